"""Feature views, grouped by entity and freshness."""

from datetime import timedelta

from data_sources import water_readings_push
from entities import OWNER, sensor
from feast import FeatureView, Field
from feast.types import Float64, String

# Readings come about once a minute. A sensor silent for an hour is treated as offline, so its
# last value is no longer served as current (and point-in-time joins ignore it).
READINGS_TTL = timedelta(hours=1)

READING_FIELDS = [
    Field(name="site_id", dtype=String, description="Site of the sensor."),
    Field(name="pond_id", dtype=String, description="Pond of the sensor, unique within its site."),
    Field(name="water_temp_c", dtype=Float64, description="Water temperature, °C."),
    Field(name="ph", dtype=Float64, description="pH (dimensionless, 0-14)."),
    Field(name="turbidity_ntu", dtype=Float64, description="Turbidity, NTU."),
    Field(name="dissolved_oxygen_mg_l", dtype=Float64, description="Dissolved oxygen, mg/L."),
    Field(name="ammonia_mg_l", dtype=Float64, description="Total ammonia nitrogen, mg/L."),
    Field(name="nitrate_mg_l", dtype=Float64, description="Nitrate, mg/L."),
]

sensor_readings_fv = FeatureView(
    name="sensor_readings",
    entities=[sensor],
    ttl=READINGS_TTL,
    schema=READING_FIELDS,
    source=water_readings_push,
    online=True,
    description="Latest validated reading of each sensor, in the units of its column names.",
    owner=OWNER,
    tags={"family": "raw", "freshness": "stream"},
)
