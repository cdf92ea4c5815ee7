"""Feature services: the versioned feature sets that models train on and read at inference."""

from entities import OWNER
from feast import FeatureService
from feature_views import SENSOR_FEATURE_VIEWS, pond_stats_1h_fv, sensor_readings_fv
from on_demand import reading_age_features, request_time_features

# Training and inference select the same views, so a model reads online exactly what it saw in
# training. The pond views need site_id and pond_id in the entity rows as well as sensor_id.
_MODEL_FEATURES = [sensor_readings_fv, *SENSOR_FEATURE_VIEWS, pond_stats_1h_fv, request_time_features, reading_age_features]

water_quality_training_v1 = FeatureService(
    name="water_quality_training_v1",
    features=_MODEL_FEATURES,
    description="Point-in-time training set of the water-quality model: readings, engineered features, pond stats.",
    owner=OWNER,
    tags={"stage": "training", "model": "water_quality"},
)

water_quality_inference_v1 = FeatureService(
    name="water_quality_inference_v1",
    features=_MODEL_FEATURES,
    description="The same features as water_quality_training_v1, read online for one sensor.",
    owner=OWNER,
    tags={"stage": "inference", "model": "water_quality"},
)
