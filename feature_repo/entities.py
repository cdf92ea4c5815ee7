"""Entities: where a reading was taken.

Join keys are strings that include their parents (a sensor id starts with its site and pond), and
ponds are keyed by (site_id, pond_id) together, so two sites can both have a ``pond-1``.
"""

from feast import Entity, ValueType

OWNER = "feature-store@aquafs.dev"

site = Entity(
    name="site",
    join_keys=["site_id"],
    value_type=ValueType.STRING,
    description="A fish farm or research site, for example `ku-mwq`.",
    owner=OWNER,
    tags={"domain": "aquaculture"},
)

pond = Entity(
    name="pond",
    join_keys=["pond_id"],
    value_type=ValueType.STRING,
    description="A pond or tank within a site; always joined together with site_id.",
    owner=OWNER,
    tags={"domain": "aquaculture"},
)

sensor = Entity(
    name="sensor",
    join_keys=["sensor_id"],
    value_type=ValueType.STRING,
    description="One sensor node or probe position, as `site/pond/position`, e.g. `ku-mwq/pond-1/depth-30cm`.",
    owner=OWNER,
    tags={"domain": "aquaculture"},
)
