"""On-demand feature views: computed at request time by the shared functions in transforms.

Output fields carry no descriptions because Feast compares declared fields with the fields it
infers by running the function, description included; each view's description gives the units.
"""

import pandas as pd
from data_sources import request_context
from entities import OWNER
from feast import Field
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64
from feature_views import sensor_readings_fv, sensor_time_features_fv

import transforms.on_demand as request_transforms


@on_demand_feature_view(
    sources=[request_context],
    schema=[Field(name=name, dtype=Float64) for name in request_transforms.REQUEST_TIME_OUTPUTS],
    mode="pandas",
    description="Hour-of-day and weekday encodings of the request time (UTC), as for reading times.",
    owner=OWNER,
    tags={"family": "request"},
)
def request_time_features(inputs: pd.DataFrame) -> pd.DataFrame:
    # Feast rebuilds the function from its source text at retrieval time, so module-level
    # imports are not in scope there; import inside the body.
    import transforms.on_demand as request_transforms

    return request_transforms.request_time_features(inputs)


@on_demand_feature_view(
    sources=[sensor_time_features_fv, request_context],
    schema=[Field(name="hours_since_reading_h", dtype=Float64)],
    mode="pandas",
    description="hours_since_reading_h: how old the served reading is at request time, in hours.",
    owner=OWNER,
    tags={"family": "request"},
)
def reading_age_features(inputs: pd.DataFrame) -> pd.DataFrame:
    import transforms.on_demand as request_transforms

    return request_transforms.reading_age_features(inputs)


@on_demand_feature_view(
    sources=[sensor_readings_fv, request_context],
    schema=[Field(name=name, dtype=Float64) for name in request_transforms.PROJECTED_OXYGEN_OUTPUTS],
    mode="pandas",
    description=(
        "projected_oxygen_saturation_mg_l (mg/L) at the requested water temperature (Benson and Krause), "
        "and projected_dissolved_oxygen_saturation_pct: current DO as a percentage of it."
    ),
    owner=OWNER,
    tags={"family": "request"},
)
def projected_oxygen_features(inputs: pd.DataFrame) -> pd.DataFrame:
    import transforms.on_demand as request_transforms

    return request_transforms.projected_oxygen_features(inputs)
