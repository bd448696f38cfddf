"""Slots of a user's scratch state: plain index constants into the kernels' small state arrays.

Invariant: one user's whole memory across sessions (traits, devices, sign-in, cart,
wishlist, orders placed, orders awaiting fulfilment) lives in these arrays and is
reset when the next user starts, so users never share state. No numba needed here.
"""
# int64 slots of ``u``
(U_INDEX, U_STATE, U_CITY, U_TIER, U_AREA, U_REGION, U_CARRIER, U_CHANNEL, U_FAV1, U_FAV2, U_METHOD, U_DEVICES,
 U_PLATFORM0, U_PLATFORM1, U_BRAND0, U_BRAND1, U_NETWORK, U_ORDERS, U_SIGNED_UP, U_SIGNED_IN0, U_SIGNED_IN1,
 U_SESSIONS, U_EVENT_SEQ, U_N_CART, U_N_WISH, U_N_PENDING, U_INSTALL0, U_INSTALL1, U_FIRST_ROW) = range(29)
N_U = 29
# float64 slots of ``f``
(F_ACTIVITY, F_SENSITIVITY, F_HABIT, F_HABIT_MINUTE, F_LAG0, F_LAG1) = range(6)
N_F = 6
# int64 fields of a pending order (``po[k, ...]``): placed in a session, fulfilled after it ends
(P_ORDER, P_TIME, P_TOTAL, P_METHOD, P_PROVIDER, P_PAID, P_DEVICE) = range(7)
N_P = 7
