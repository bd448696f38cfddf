"""Users: correlated traits drawn once from (user seed, user index), and each device's state over time.

Invariant: a user's traits are a pure function of the user seed and the user's index, so
any shard that simulates the user draws the same home, devices, habits and tastes.
Traits are correlated the way the config says: platform by state and urban/rural area,
usual network by region and area, preferred payment method by platform and area.
"""
import math

import numpy as np

from ._jit import jit, jit_alloc
from .codes import IOS, RURAL, URBAN, WEB
from .sampling import bernoulli, categorical, exponential, seed_state, std_normal, uniform
from .state import (F_ACTIVITY, F_HABIT, F_HABIT_MINUTE, F_LAG0, F_LAG1, F_SENSITIVITY, U_AREA, U_BRAND0, U_BRAND1,
                    U_CARRIER, U_CHANNEL, U_CITY, U_DEVICES, U_FAV1, U_FAV2, U_INDEX, U_METHOD, U_NETWORK,
                    U_PLATFORM0, U_PLATFORM1, U_REGION, U_STATE, U_TIER, N_F, N_U)
from .clock import habit_minute

_RURAL_TIER = 3


@jit
def _platform(st, up, state, area):
    return categorical(st, up.platform_cum[state, area], 0, up.platform_cum.shape[2])


@jit
def _brand(st, up, platform):
    return categorical(st, up.brand_cum, up.brand_off[platform], up.brand_off[platform + 1])


@jit
def draw_traits(tp, up, user_seed, index, u, f, st):
    """Fill the user's trait slots of ``u`` and ``f``; ``st`` becomes the user's own random stream."""
    for j in range(u.shape[0]):
        u[j] = 0
    seed_state(st, user_seed, index)
    u[U_INDEX] = index
    s = categorical(st, up.state_cum, 0, up.state_cum.shape[0])
    u[U_STATE] = s
    u[U_CITY] = categorical(st, up.city_cum, up.city_off[s], up.city_off[s + 1])
    area = URBAN if uniform(st) < up.state_urban[s] else RURAL
    u[U_AREA] = area
    u[U_TIER] = _RURAL_TIER if area == RURAL else up.city_tier[u[U_CITY]]
    u[U_REGION] = up.state_region[s]
    u[U_CARRIER] = categorical(st, up.carrier_cum, 0, up.carrier_cum.shape[0])
    u[U_CHANNEL] = categorical(st, up.channel_cum, 0, up.channel_cum.shape[0])
    u[U_NETWORK] = categorical(st, up.network_cum[u[U_REGION], area], 0, up.network_cum.shape[2])
    pl = _platform(st, up, s, area)
    u[U_PLATFORM0] = pl
    u[U_BRAND0] = _brand(st, up, pl)
    u[U_DEVICES] = 1
    u[U_PLATFORM1] = -1
    u[U_BRAND1] = -1
    if bernoulli(st, up.p_second_device):
        second = _platform(st, up, s, area)
        if second == pl:  # a second device is usually the other kind: phone + browser, or a new phone
            second = WEB if pl != WEB else 0
        u[U_DEVICES] = 2
        u[U_PLATFORM1] = second
        u[U_BRAND1] = _brand(st, up, second)
    ncat = up.cat_cum.shape[0]
    u[U_FAV1] = categorical(st, up.cat_cum, 0, ncat)
    u[U_FAV2] = categorical(st, up.cat_cum, 0, ncat)
    u[U_METHOD] = categorical(st, up.method_cum[1 if pl == IOS else 0, area], 0, up.method_cum.shape[2])
    f[F_ACTIVITY] = math.exp(up.activity_sigma * std_normal(st) - 0.5 * up.activity_sigma ** 2)
    # price sensitivity in [0, 1): iOS users less, rural users more (a latent budget)
    base = uniform(st)
    if pl == IOS:
        base *= 0.6
    if area == RURAL:
        base = 0.3 + 0.7 * base
    f[F_SENSITIVITY] = base
    f[F_HABIT] = up.habit_mean * 2.0 * uniform(st) if up.habit_mean < 0.5 else 1.0 - (1.0 - up.habit_mean) * 2.0 * uniform(st)
    f[F_HABIT_MINUTE] = habit_minute(tp, st)
    f[F_LAG0] = -1.0 if bernoulli(st, up.p_never_updates) else exponential(st, up.update_lag_us)
    f[F_LAG1] = -1.0 if bernoulli(st, up.p_never_updates) else exponential(st, up.update_lag_us)


@jit
def app_version(up, platform, installed_at, lag_us, t):
    """The app version a device runs at ``t``: the newest at install, then each release after its own lag."""
    if platform == WEB:
        return up.web_app_version
    v = 0
    for k in range(up.releases_us.shape[0]):
        released = up.releases_us[k]
        if released <= installed_at or (lag_us >= 0.0 and released + np.int64(lag_us) <= t):
            v = k
    return v



@jit_alloc
def user_traits(tp, up, user_seed, users):
    """The traits of each user in ``users`` (int64[n, N_U] and float64[n, N_F] trait slots), for the users table."""
    n = users.shape[0]
    out_u = np.zeros((n, N_U), np.int64)
    out_f = np.zeros((n, N_F), np.float64)
    st = np.empty(1, np.uint64)
    for k in range(n):
        draw_traits(tp, up, user_seed, users[k], out_u[k], out_f[k], st)
    return out_u, out_f
