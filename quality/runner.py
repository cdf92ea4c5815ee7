"""Run suites on pandas frames with an ephemeral Great Expectations 1.x context.

The context lives in memory: suites are defined in code (:mod:`quality.suites`), so there is no
``gx/`` folder to keep in step with them. With ``data_docs_dir`` set, every run goes through a
:class:`great_expectations.Checkpoint` whose ``UpdateDataDocsAction`` renders the suite and the
result as static HTML into that folder.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.checkpoint import UpdateDataDocsAction
from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult
from great_expectations.data_context.types.base import ProgressBarsConfig

logger = logging.getLogger(__name__)

DATA_DOCS_SITE = "aquafs_data_docs"


@dataclass(frozen=True)
class FailedExpectation:
    """One expectation that did not hold, with the rows (positions in the frame) that broke it."""

    expectation: str
    column: str | None
    detail: str
    row_positions: tuple[int, ...]

    def describe(self) -> str:
        target = f" on {self.column!r}" if self.column else ""
        return f"{self.expectation}{target}: {self.detail}"


class QualityRunner:
    """Validate frames against suites; optionally publish Data Docs.

    Args:
        data_docs_dir: folder of the HTML Data Docs site (``index.html`` at its top); ``None``
            validates without writing anything.
    """

    def __init__(self, data_docs_dir: Path | None = None) -> None:
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.data_docs_dir = data_docs_dir
        if data_docs_dir is not None:
            data_docs_dir.mkdir(parents=True, exist_ok=True)
            self.context.add_data_docs_site(
                DATA_DOCS_SITE,
                {
                    "class_name": "SiteBuilder",
                    "store_backend": {
                        "class_name": "TupleFilesystemStoreBackend",
                        "base_directory": str(data_docs_dir.resolve()),
                    },
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                },
            )
        self._source = self.context.data_sources.add_pandas("frames")

    def validate(
        self, suite: gx.ExpectationSuite, frame: pd.DataFrame, *, asset_name: str | None = None
    ) -> ExpectationSuiteValidationResult:
        """Validate ``frame`` (any index; positions are reported) against ``suite``."""
        frame = frame.reset_index(drop=True)
        name = asset_name or suite.name
        unique = f"{name}_{uuid.uuid4().hex[:8]}"
        asset = self._source.add_dataframe_asset(unique)
        batch_definition = asset.add_batch_definition_whole_dataframe("whole_frame")
        suite = self.context.suites.add_or_update(suite)
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=unique, data=batch_definition, suite=suite)
        )
        result_format: dict[str, Any] = {"result_format": "COMPLETE"}
        if self.data_docs_dir is None:
            result = definition.run(batch_parameters={"dataframe": frame}, result_format=result_format)
        else:
            checkpoint = self.context.checkpoints.add(
                gx.Checkpoint(
                    name=unique,
                    validation_definitions=[definition],
                    actions=[UpdateDataDocsAction(name="update_data_docs", site_names=[DATA_DOCS_SITE])],
                    result_format=result_format,
                )
            )
            checkpoint_result = checkpoint.run(batch_parameters={"dataframe": frame})
            result = next(iter(checkpoint_result.run_results.values()))
        logger.info(
            "suite %s on %s: %s (%d rows)", suite.name, name, "passed" if result.success else "failed", len(frame)
        )
        return result


def failed_expectations(result: ExpectationSuiteValidationResult) -> list[FailedExpectation]:
    """List the expectations of ``result`` that failed or raised, with the rows that broke them."""
    failures: list[FailedExpectation] = []
    for item in result.results:
        if item.success:
            continue
        config = item.expectation_config
        kwargs = config.kwargs if config is not None else {}
        column = kwargs.get("column") or ", ".join(kwargs.get("column_list", []) or []) or None
        if column is None and "column_A" in kwargs:
            column = f"{kwargs['column_A']} > {kwargs['column_B']}"
        details = item.result or {}
        exception = item.exception_info or {}
        if exception.get("raised_exception"):
            detail = f"raised {exception.get('exception_message')}"
        elif "unexpected_count" in details:
            detail = (
                f"{details['unexpected_count']} of {details.get('element_count')} rows unexpected "
                f"({details.get('unexpected_percent', 0.0):.2f} %), e.g. {details.get('partial_unexpected_list', [])[:3]}"
            )
        else:
            detail = f"observed {details.get('observed_value')!r}"
        positions = tuple(int(index) for index in details.get("unexpected_index_list") or [] if _is_position(index))
        failures.append(
            FailedExpectation(
                expectation=config.type if config is not None else "unknown",
                column=column,
                detail=detail,
                row_positions=positions,
            )
        )
    return failures


def _is_position(index: object) -> bool:
    return isinstance(index, int) or (hasattr(index, "__int__") and not isinstance(index, dict | str))
