"""Feature services: the versioned feature sets that models train on and read at inference."""

from entities import OWNER
from feast import FeatureService
from feature_views import sensor_readings_fv

water_quality_inference_v1 = FeatureService(
    name="water_quality_inference_v1",
    features=[sensor_readings_fv],
    description="Features the water-quality model reads online for one sensor.",
    owner=OWNER,
    tags={"stage": "inference"},
)
