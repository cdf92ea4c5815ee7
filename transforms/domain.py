"""Water-chemistry formulas: oxygen solubility and the un-ionised share of total ammonia.

Scalar functions work on floats and numpy arrays alike, so the per-reading kernel and the
on-demand views share them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

KELVIN_OFFSET = 273.15

TFloat = float | npt.NDArray[np.float64]


def oxygen_saturation_mg_l(water_temp_c: TFloat, salinity_psu: TFloat = 0.0) -> TFloat:
    """Compute the dissolved-oxygen concentration at air saturation, in mg/L.

    Benson and Krause (1984), as tabulated in Standard Methods (APHA 4500-O) and USGS
    OWQ Technical Memorandum 2011.03: 1 atm, water-saturated air, salinity in PSU
    (0 for fresh water). The fit is calibrated for 0-40 °C; outside that the value is an
    extrapolation. NaN temperature gives NaN.
    """
    kelvin = np.asarray(water_temp_c, dtype=float) + KELVIN_OFFSET
    with np.errstate(all="ignore"):
        ln_concentration = _benson_krause_ln(kelvin, np.asarray(salinity_psu, dtype=float))
        return _as_input_shape(np.exp(ln_concentration))


def _benson_krause_ln(kelvin: npt.NDArray[np.float64], salinity_psu: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return (
        -139.34411
        + 1.575701e5 / kelvin
        - 6.642308e7 / kelvin**2
        + 1.243800e10 / kelvin**3
        - 8.621949e11 / kelvin**4
        - salinity_psu * (1.7674e-2 - 1.0754e1 / kelvin + 2.1407e3 / kelvin**2)
    )


def oxygen_saturation_pct(dissolved_oxygen_mg_l: TFloat, water_temp_c: TFloat) -> TFloat:
    """Compute dissolved oxygen as a percentage of the air-saturation concentration (fresh water)."""
    saturation = np.asarray(oxygen_saturation_mg_l(water_temp_c), dtype=float)
    with np.errstate(all="ignore"):
        return _as_input_shape(100.0 * np.asarray(dissolved_oxygen_mg_l, dtype=float) / saturation)


def ammonia_pka(water_temp_c: TFloat) -> TFloat:
    """Compute the ammonium dissociation constant pKa: Emerson et al. (1975), 0.09018 + 2729.92 / T(K)."""
    with np.errstate(all="ignore"):
        return _as_input_shape(0.09018 + 2729.92 / (np.asarray(water_temp_c, dtype=float) + KELVIN_OFFSET))


def unionized_ammonia_fraction(ph: TFloat, water_temp_c: TFloat) -> TFloat:
    """Compute the un-ionised (NH3) share of total ammonia nitrogen, 0-1: 1 / (1 + 10^(pKa - pH))."""
    exponent = np.asarray(ammonia_pka(water_temp_c), dtype=float) - np.asarray(ph, dtype=float)
    with np.errstate(all="ignore"):
        return _as_input_shape(1.0 / (1.0 + np.power(10.0, exponent)))


def _as_input_shape(values: npt.NDArray[np.float64]) -> TFloat:
    # 0-d results become Python floats so scalar callers get scalars back.
    if values.ndim == 0:
        return float(values)
    return values
