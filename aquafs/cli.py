"""The ``aquafs`` command: one subcommand per job.

Each subcommand loads settings, configures logging, then runs; importing this module does nothing.
Run ``aquafs --help`` or ``aquafs <command> --help``.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from aquafs.errors import AquaError
from aquafs.logs import configure_logging
from aquafs.settings import Settings, load_settings
from training import commands as _job_commands

logger = logging.getLogger("aquafs.cli")

Handler = Callable[[argparse.Namespace, Settings], int]


def _cmd_check_config(args: argparse.Namespace, settings: Settings) -> int:
    from aquafs.feast_store import export_feast_environment, unset_yaml_variables

    export_feast_environment(settings)
    missing = unset_yaml_variables()
    if missing:
        print(f"feature_store.yaml uses unset variable(s): {', '.join(missing)}", file=sys.stderr)
        return 1
    print("configuration ok: every ${VAR} in feature_store.yaml is set")
    return 0


def _cmd_env(args: argparse.Namespace, settings: Settings) -> int:
    for name, value in settings.feast_environment().items():
        print(f"export {name}={_shell_quote(value)}")
    return 0


def _cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from aquafs.migrations import apply_migrations

    applied = apply_migrations(settings.postgres, timescaledb=args.timescaledb)
    for item in applied:
        print(f"applied {item.version:03d}_{item.name} ({item.variant})")
    print(f"migrations applied: {len(applied)}")
    return 0


def _cmd_load(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from ingestion.loader import load_history

    default_dir = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    data_dir = Path(args.data_dir or settings.data_dir or default_dir)
    result = load_history(settings.postgres, data_dir, ku_mwq_timezone=args.ku_mwq_timezone)
    print(
        f"read {result.rows_read}, loaded {result.rows_loaded}, already present {result.rows_already_present}, "
        f"rejected {result.rows_rejected} (newly recorded {result.rejections_recorded})"
    )
    for reason, count in result.rejected_by_reason.items():
        print(f"  rejected {reason}: {count}")
    return 0


def _cmd_apply(args: argparse.Namespace, settings: Settings) -> int:
    from aquafs.feast_store import apply_repo, open_store

    store = open_store(settings)
    apply_repo(store)
    print(f"feature repo applied to project {store.project!r}")
    return 0


def _cmd_feast(args: argparse.Namespace, settings: Settings) -> int:
    from aquafs.feast_store import FEATURE_REPO, export_feast_environment

    export_feast_environment(settings)
    feast = os.path.join(os.path.dirname(sys.executable), "feast")
    return subprocess.call([feast, *args.feast_args], cwd=FEATURE_REPO)


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from aquafs.demo import DEFAULT_ARTIFACTS_DIR, DEFAULT_DATA_DIR, run_demo

    data_dir = args.data_dir or os.environ.get("AQUA_DATA_DIR") or DEFAULT_DATA_DIR
    summary = run_demo(
        settings, Path(data_dir), artifacts_dir=args.artifacts_dir or DEFAULT_ARTIFACTS_DIR, replay_limit=args.replay_limit
    )
    print("\nSummary\n" + summary.render())
    return 0


COMMANDS: dict[str, tuple[str, Handler]] = {
    "demo": ("run the main job end to end on the real data (stack must be up)", _cmd_demo),
    "check-config": ("check that every variable feature_store.yaml needs is set", _cmd_check_config),
    "env": ("print `export` lines for the variables feature_store.yaml expands", _cmd_env),
    "migrate": ("apply the numbered SQL migrations in sql/ (idempotent)", _cmd_migrate),
    "load": ("load the CSV sensor history into water_readings (idempotent)", _cmd_load),
    "apply": ("register the feature repo in the Feast registry (like `feast apply`)", _cmd_apply),
    "feast": ("run the Feast CLI in feature_repo/ with endpoints from AQUA_* settings", _cmd_feast),
    "backfill": ("compute sensor_features from water_readings (idempotent)", _job_commands.cmd_backfill),
    "quality": ("run the Great Expectations checkpoints on the stored data and build Data Docs", _job_commands.cmd_quality),
    "train": ("train the 60-minute water-temperature forecast from the training feature service", _job_commands.cmd_train),
    "predict": ("forecast every sensor from online features with the saved model", _job_commands.cmd_predict),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aquafs", description="Aquaculture feature store jobs.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, (help_text, _) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == "migrate":
            sub.add_argument(
                "--timescaledb",
                choices=("off", "auto", "on"),
                default=None,
                help="schema variant: TimescaleDB if available (auto), required (on) or never (off); "
                "default: AQUA_POSTGRES__TIMESCALEDB, else auto",
            )
        if name == "load":
            sub.add_argument(
                "--data-dir",
                default=None,
                help="folder holding the dataset folders; default: AQUA_DATA_DIR, else ../shared/data "
                "next to the repository",
            )
            sub.add_argument(
                "--ku-mwq-timezone",
                default="Asia/Dhaka",
                help="IANA time zone of the KU-MWQ local timestamps (default: Asia/Dhaka, UTC+6, inferred "
                "from the site)",
            )
        if name == "demo":
            sub.add_argument("--data-dir", help="folder with the sensor datasets (default: ../shared/data)")
            sub.add_argument("--artifacts-dir", type=Path, help="folder for the model and Data Docs (default: artifacts/)")
            sub.add_argument(
                "--replay-limit", type=int, default=0,
                help="replay only the first N readings through Kafka (default: 0, all of them)",
            )
        _job_commands.add_arguments(name, sub)
        if name == "feast":
            sub.add_argument("feast_args", nargs=argparse.REMAINDER, help="arguments for `feast`")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Feast warns on every call that on-demand views are experimental. Libraries under Great
    # Expectations raise DeprecationWarnings on import. Neither helps the person at the terminal.
    warnings.filterwarnings("ignore", message="On demand feature view is an experimental feature")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        settings = load_settings()
        configure_logging(settings)
        return COMMANDS[args.command][1](args, settings)
    except AquaError as error:
        print(f"aquafs {args.command}: {error}", file=sys.stderr)
        return 1


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


if __name__ == "__main__":
    sys.exit(main())
