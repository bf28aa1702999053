"""Card-payment aggregates beside the visitor figures: what visitors spend (the report's
section, :func:`geozones.report.build_report` ``spend``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import file_format, people_text, read_csv_text
from .errors import InputError
from .origins import ALL

__all__ = ["read_spend", "at_run", "places", "spend_table"]

_PUBLISHED = "published"
#: Regions of the zones' overlay narrower than this (m: twice the area over the perimeter) are
#: no place a terminal stands (:func:`places`).
SLIVER_M = 5.0


def read_spend(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read payment-terminal aggregates: ``zone_id`` (or the terminal's ``lon`` and ``lat``),
    ``date``, ``origin``, ``transactions``, ``amount``.

    ``origin`` uses the codes of the published figures (``all``, ``resident``, a province
    code, an ISO country code) or the counts' own (NIS codes, MCCs): a report names them as
    the run's figures (:func:`at_run`); ``date`` is a local date (YYYY-MM-DD); ``amount``
    in euro. A terminal given by ``lon`` and ``lat`` (WGS84) counts in every zone it lies in.

    Parameters
    ----------
    path : str or os.PathLike
        A CSV or Parquet (``.parquet``) file with those columns; names are stripped and
        lower-cased.

    Returns
    -------
    pandas.DataFrame
        ``zone_id`` (or ``lon`` and ``lat``, floats) and ``origin`` (str), ``date`` (str,
        YYYY-MM-DD), ``transactions`` and ``amount`` (float, not negative): a row per row of
        the file, other columns dropped.

    Raises
    ------
    InputError
        Missing columns, dates that are not dates, negative or non-numeric values.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path=path, hint="check the spending file's path")
    if file_format(path) == "parquet":
        try:
            df = pd.read_parquet(path)
        except Exception as exc:
            raise InputError(f"cannot read the spending file: {exc}", path=path) from exc
        df.columns = [str(c).strip().lower() for c in df.columns]
    else:
        df = read_csv_text(path, what="spending file")
    where = ["zone_id"] if "zone_id" in df.columns or not {"lon", "lat"} <= set(df.columns) else ["lon", "lat"]
    need = [*where, "date", "origin", "transactions", "amount"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise InputError(f"has no {', '.join(missing)} column", path=path,
                         hint="a spending file has the columns zone_id (or the terminal's lon and lat), date, origin, transactions, amount")
    out = pd.DataFrame({"origin": df["origin"].astype(str)})
    if where == ["zone_id"]:
        out.insert(0, "zone_id", df["zone_id"].astype(str))
    for col in ("lon", "lat") if where != ["zone_id"] else ():
        v = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(v) | (np.abs(v) > (180 if col == "lon" else 90))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{col} {df[col].iloc[i]!r} is not a WGS84 {'longitude' if col == 'lon' else 'latitude'}", path=path, where=f"line {i + 2}")
        out[col] = v
    dates = pd.to_datetime(df["date"].astype(str), format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():
        i = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise InputError(f"date {df['date'].iloc[i]!r} is not a date (YYYY-MM-DD)", path=path, where=f"line {i + 2}")
    out["date"] = dates.dt.strftime("%Y-%m-%d")
    for col in ("transactions", "amount"):
        v = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(v) | (v < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{col} {df[col].iloc[i]!r} is not a non-negative number", path=path, where=f"line {i + 2}")
        out[col] = v
    return out


def at_run(spend: pd.DataFrame, zones, level: str | None, residents: dict | None) -> tuple[pd.DataFrame, int]:
    """Spending rows named as a run's figures: terminals placed in the zones they lie in (each
    zone holding one, overlapping zones too), origins at the run's level as its counts were
    (``208`` is ``FR``, a municipality its province, the zone's own municipality
    ``resident``; a probe's rows of the counts' codes were all left out).

    Parameters
    ----------
    spend : pandas.DataFrame
        From :func:`read_spend`.
    zones : geopandas.GeoDataFrame or None
        The run's zones (``zones.geojson``), for terminals given by position.
    level : str or None
        The run's origin level (None: the origins as they are).
    residents : dict or None
        Each zone's own municipality, where the run set its residents apart.

    Returns
    -------
    (pandas.DataFrame, int)
        The rows with ``zone_id``, and how many terminals lie in no zone (left out).
    """
    from .origins import RESIDENT, homes_kept, normalize_origins, rollup_codes

    outside = 0
    if "zone_id" not in spend.columns:
        import geopandas as gpd

        if zones is None:
            raise InputError("the spending file gives terminals by position, and the run has no zones.geojson to place them in",
                             hint="give the spending rows a zone_id, or report on a complete run folder")
        place = pd.factorize(pd.MultiIndex.from_arrays([spend["lon"], spend["lat"]]))[0]  # (a terminal: its zones, for the audit)
        pts = gpd.GeoDataFrame(spend.assign(place=place), geometry=gpd.points_from_xy(spend["lon"], spend["lat"]), crs="EPSG:4326")
        hit = gpd.sjoin(pts, zones[["zone_id", "geometry"]].to_crs("EPSG:4326"), predicate="within", how="left")
        outside = int(hit["zone_id"].isna().sum())
        spend = pd.DataFrame(hit.dropna(subset=["zone_id"]).drop(columns=["geometry", "index_right", "lon", "lat"]))
        spend["zone_id"] = spend["zone_id"].astype(str)
    if level:
        o = spend["origin"].astype(str)
        norm, lv = normalize_origins(o)
        up = rollup_codes(norm.where(lv != "invalid", o), level, keep=homes_kept(residents, level))
        if residents:
            home = spend["zone_id"].map(residents)
            up = up.where(home.isna() | (norm != home), RESIDENT)
        spend = spend.assign(origin=o.where(o.isin([ALL, RESIDENT]), up).to_numpy(dtype=object))
    return spend.reset_index(drop=True), outside


def places(spend: pd.DataFrame, zones):
    """The places a transaction may lie in, as the spend table's attacker reads them: a
    cell per set of zones holding it, for the audit (:func:`geozones.privacy.audit_frame`).

    Terminals given by position (:func:`at_run`'s ``place``) lie in the zones they lie in,
    and the places are their sets of zones (fewer unknowns than the zones' overlay, so
    stricter than an attacker who knows only the zones); rows given by ``zone_id`` may lie
    anywhere in their zone, and the places are the regions of the zones' overlay (each
    a set of zones holding it). Stop 56's probe read a shop's 5 transactions in the overlap
    of two zones as the sum of three zones in a row less the zone holding all three.

    Parameters
    ----------
    spend : pandas.DataFrame
        From :func:`at_run`.
    zones : geopandas.GeoDataFrame or None
        The run's zones.

    Returns
    -------
    geozones.Weights or None
        Places x zones, 1 where the zone holds the place (None: no zones to read).
    """
    import shapely
    from scipy import sparse

    from .weights import Weights

    if "place" in spend.columns:
        zone_ids = np.asarray(pd.unique(spend["zone_id"].astype(str)), dtype=object)
        row, col = spend["place"].to_numpy(dtype=np.int64), pd.Index(zone_ids).get_indexer(spend["zone_id"].astype(str))
    elif zones is not None and len(zones):
        zone_ids = zones["zone_id"].astype(str).to_numpy(dtype=object)
        geoms = np.asarray(zones.to_crs(zones.estimate_utm_crs()).geometry.values if zones.crs is not None else zones.geometry.values)
        faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.union_all(shapely.boundary(geoms)))))
        # (slivers: zones drawn in a metric CRS leave strips 0.3 m wide between edges that do not share vertices, each a
        # place of its own that broke the zones' nesting in the audit (stop 57's probe: an overlap's 5 transactions);
        # no terminal stands in a strip under SLIVER_M wide, and fewer places only make the audit stricter)
        if zones.crs is not None:
            faces = faces[2 * shapely.area(faces) >= SLIVER_M * shapely.length(faces)]
        tree = shapely.STRtree(geoms)
        row, col = tree.query(shapely.point_on_surface(faces), predicate="within")
    else:
        return None
    if not len(row):
        return None
    m = sparse.csr_array((np.ones(len(row)), (row, col)), shape=(int(row.max()) + 1, len(zone_ids)))
    m.sum_duplicates()
    m.data[:] = 1.0
    m = _distinct_rows(m)  # (one row per set of zones; a region in no zone: none)
    return Weights(m, np.array([f"place {i}" for i in range(m.shape[0])], dtype=object), zone_ids, np.zeros(m.shape[0]), {"model": "places"})


def spend_table(spend: pd.DataFrame, table: pd.DataFrame, day_p: str, k: float, onames: dict, names: dict, days: tuple[str, str],
                 kind: str | None = None, stat: str | None = None, nested: list | None = None, places=None):
    """Spend per person per zone and origin over the page's days (``days``: first, end
    excluded), from published daily figures (a run of hours: its days) and transactions of
    ``k`` or more, protected as the counts are: where a zone's ``all`` is shown, its hidden
    origins hold ``k`` transactions together, or are hidden with more (origin ``all``:
    everyone, residents included); of a zone inside another (``nested``: ``(outer, inner)``
    pairs and ``(outer, [inner, ...], rest)`` families, :func:`geozones.zonegeo.nested_zones`),
    the outer less the inner is ``k`` transactions or none, or one of them is hidden, and so
    is the ring round all its inner zones (:func:`_hide_small_rings`). With ``places``
    (:func:`places`), the attacker's audit then reads the whole table at once, as it reads
    the zone tables (:func:`geozones.privacy.audit_frame`): no place, ring or other set of
    places follows from the published rows with fewer than ``k`` transactions.
    """
    from .counts import period_seconds
    from .pages import days_from_hours
    from .privacy import suppress_complements

    rows_p = table[table["period"] == day_p].copy()
    rows_p["date"] = rows_p["period_start"].str.slice(0, 10)
    if period_seconds(day_p) < 86_400 and len(rows_p):  # (a probe's hourly run joined each day's payments to every hour: 2 read as 40)
        rows_p = days_from_hours(rows_p, kind, stat)
    daily = rows_p[rows_p["status"] == _PUBLISHED]
    # (rows of one zone, day and origin added up first: a probe's retail and hospitality rows halved the spend per person)
    spend = spend.groupby(["zone_id", "date", "origin"], sort=False, as_index=False)[["transactions", "amount"]].sum()
    on_page = (spend["date"] >= days[0]) & (spend["date"] < days[1])
    known = spend["zone_id"].isin(set(table["zone_id"]))
    joined = spend[on_page & known].merge(daily[["zone_id", "date", "origin", "estimate"]], on=["zone_id", "date", "origin"], how="left")
    usable = joined["estimate"].notna() & (joined["estimate"] > 0)
    g = joined[usable].groupby(["zone_id", "origin"], sort=False).agg(transactions=("transactions", "sum"), amount=("amount", "sum"),
                                                                      visitors=("estimate", "sum"), days=("date", "nunique")).reset_index()
    # (stop 56's attacker: a suppressed row listed where its origin had payments, absent where it had none, and its days
    # with payments, told 1 to k - 1 transactions): every zone and origin of the table with a published figure is listed,
    # none as 0, and the days are those with a published figure
    seen = daily[(daily["date"] >= days[0]) & (daily["date"] < days[1]) & (daily["estimate"] > 0)]
    seen = seen[seen["zone_id"].isin(set(g["zone_id"])) & seen["origin"].isin(set(g["origin"]))]
    pub_days = seen.groupby(["zone_id", "origin"], sort=False)["date"].nunique()
    missing = pub_days[~pub_days.index.isin(pd.MultiIndex.from_frame(g[["zone_id", "origin"]]))]
    g = pd.concat([g, pd.DataFrame({"zone_id": missing.index.get_level_values(0), "origin": missing.index.get_level_values(1),
                                    "transactions": 0.0, "amount": 0.0, "visitors": 0.0})], ignore_index=True)
    g["days"] = pub_days.reindex(pd.MultiIndex.from_frame(g[["zone_id", "origin"]])).to_numpy()
    # (a probe read a hidden origin's 12 transactions as all less the published ones)
    tr = g["transactions"].to_numpy(dtype=float)
    is_all = (g["origin"] == ALL).to_numpy()
    zid = pd.factorize(g["zone_id"])[0]
    n_z = int(zid.max()) + 1 if len(zid) else 0
    has_all = np.bincount(zid[is_all], minlength=n_z) > 0
    rest = np.clip(np.bincount(zid, weights=np.where(is_all, tr, 0.0), minlength=n_z) - np.bincount(zid, weights=np.where(is_all, 0.0, tr), minlength=n_z), 0, None)
    rest_z = np.flatnonzero(has_all)
    obs = np.r_[tr, rest[rest_z]]
    sup = np.r_[tr < k, np.ones(len(rest_z), bool)]
    reason = np.where(sup, "below k", "").astype(object)
    rel = (np.r_[np.arange(len(g)), len(g) + np.arange(len(rest_z))], np.r_[zid, rest_z], np.r_[is_all, np.zeros(len(rest_z), bool)], "complementary")
    rels = [rel]
    pairs = [n for n in (nested or []) if len(n) == 2]  # (families: _hide_small_rings)
    if pairs:  # (a terminal counts in every zone it lies in: a centre's transactions less its street's are a group too)
        rows = g[["zone_id", "origin"]].reset_index(drop=True).reset_index()
        m = (pd.DataFrame(pairs, columns=["outer", "inner"]).merge(rows.rename(columns={"zone_id": "outer", "index": "io"}), on="outer")
             .merge(rows.rename(columns={"zone_id": "inner", "index": "ii"}), on=["inner", "origin"]))
        io, ii = m["io"].to_numpy(int), m["ii"].to_numpy(int)
        v = len(obs) + np.arange(len(m))
        obs, sup = np.r_[obs, np.clip(tr[io] - tr[ii], 0, None)], np.r_[sup, np.ones(len(m), bool)]
        reason = np.r_[reason, np.full(len(m), "below k", dtype=object)]
        gid = np.arange(len(m))
        rels.append((np.r_[io, ii, v], np.r_[gid, gid, gid], np.r_[np.ones(len(m), bool), np.zeros(2 * len(m), bool)], "complementary (zones inside zones)"))
    sup = suppress_complements(obs, sup, reason, rels, k, len(g))[0][:len(g)]
    sup = _hide_small_rings(g, tr, sup, nested, k)
    if places is not None and len(g):  # (stop 56's probe: three zones in a row less the zone holding them gave an overlap's 5)
        sup = _audited(g, tr, sup, rest, rest_z, k, nested, places, days[0], seen)
    rows = []
    for i, r in g.iterrows():
        ok = not sup[i]
        rows.append({
            "zone": names.get(r["zone_id"], r["zone_id"]), "origin": "all origins, residents included" if r["origin"] == ALL else onames.get(r["origin"], r["origin"]),
            "days": int(r["days"]), "transactions": people_text(r["transactions"]) if ok else "suppressed",
            "per_visitor": f"€ {r['amount'] / r['visitors']:.2f}" if ok else "suppressed",
        })
    why = [f"{n} of {len(spend)} spending rows {what}" for n, what in (
        (int((~on_page).sum()), f"are of days outside this page ({days[0]} to the day before {days[1]})"),
        (int((on_page & ~known).sum()), "name a zone that is not in this run"),
        (int((~usable).sum()), "have no published visitor figure for their zone, day and origin")) if n]
    return rows, ("; ".join(why) + ": they are left out." if why else "")


def _audited(g: pd.DataFrame, tr: np.ndarray, sup: np.ndarray, rest: np.ndarray, rest_z: np.ndarray, k: float, nested, places, day: str,
             seen: pd.DataFrame) -> np.ndarray:
    """The spend rows hidden after the attacker's audit over ``places``: each zone's
    transactions a figure of its places, its ``all`` its origins' and a hidden rest's (one
    period); then per origin over places and days, each row the sum over its own published
    days (``seen``: ``zone_id``, ``origin``, ``date``), until neither finds more.

    Stop 57's probe: two overlapping zones inside a third, published on days {1, 4} and
    {2, 3} of a page, gave the third's 3 transactions outside them (403 - 200 - 200) while
    the one-period audit read both as the same place.
    """
    from .privacy import audit_frame

    zone_names = np.asarray(pd.factorize(g["zone_id"])[1], dtype=object)
    zone_s, origin_s = g["zone_id"].astype(str).to_numpy(dtype=object), g["origin"].astype(str).to_numpy(dtype=object)
    t = pd.DataFrame({"zone_id": np.r_[zone_s, zone_names[rest_z].astype(str)], "period_start": day, "period": "1d",
                      "origin": np.r_[origin_s, np.full(len(rest_z), " rest", dtype=object)], "observed": np.r_[tr, rest[rest_z]]})
    for _ in range(len(g) + 1):
        before = sup.copy()
        sup = sup | audit_frame(t, np.r_[sup, np.ones(len(rest_z), bool)], k, nested=nested, weights=places, estimates=False)[:len(g)]
        for o in pd.unique(origin_s):
            rows = np.flatnonzero(origin_s == o)
            cells = _place_days(places, seen[seen["origin"].astype(str) == o], zone_s[rows])
            if cells is not None:
                sup[rows] |= audit_frame(t.iloc[rows], sup[rows], k, nested=nested, weights=cells, estimates=False)
        if (sup == before).all():
            return sup
    return sup


def _place_days(places, seen: pd.DataFrame, zones: np.ndarray):
    """Weights of (place, day) cells over ``zones`` for one origin: a zone's figure holds a
    place's day where the zone holds the place and its figure of that day is published
    (cells alike merged; None where every zone's days are the same: the places say it all).
    """
    from scipy import sparse

    from .weights import Weights

    day_code, day_names = pd.factorize(seen["date"])
    if len(day_names) < 2:
        return None
    col = pd.Index(np.asarray(places.zone_ids, dtype=object).astype(str)).get_indexer(zones)
    on = np.zeros((len(zones), len(day_names)), bool)  # (zone, day): its figure is published
    at = pd.Index(zones).get_indexer(seen["zone_id"].astype(str))
    on[at[at >= 0], day_code[at >= 0]] = True
    if (on == on[:1]).all():
        return None
    p = sparse.csc_array(places.matrix)[:, np.maximum(col, 0)].tocoo()
    keep = col[p.col] >= 0
    pr, pz = p.row[keep], p.col[keep]  # (place, zone) pairs
    zd = np.argwhere(on)  # (zone, day) pairs
    starts = np.searchsorted(zd[:, 0], np.arange(len(zones) + 1))
    n = starts[pz + 1] - starts[pz]
    idx = np.repeat(starts[pz], n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
    cell = np.repeat(pr, n) * len(day_names) + zd[idx, 1]
    m = sparse.csr_array((np.ones(len(cell)), (cell, np.repeat(pz, n))), shape=(places.matrix.shape[0] * len(day_names), len(zones)))
    m = _distinct_rows(m)
    return Weights(m, np.array([f"place-day {i}" for i in range(m.shape[0])], dtype=object), zones, np.zeros(m.shape[0]), {"model": "places"})


def _distinct_rows(m):
    """The distinct non-empty rows of a sparse matrix (0/1 rows, hashed by two random
    projections), in their first row's order.
    """
    from scipy import sparse

    m = sparse.csr_array(m)
    m = m[np.flatnonzero(np.diff(m.indptr))]
    key = np.round(m @ np.random.default_rng(0).random((m.shape[1], 2)), 9)
    _, first = np.unique(key, axis=0, return_index=True)
    return sparse.csr_array(m[np.sort(first)])


def _hide_small_rings(g: pd.DataFrame, tr: np.ndarray, sup: np.ndarray, nested, k: float) -> np.ndarray:
    """Hide every row of a zone's inner zones where a ring of the zone (what it holds outside
    all of them) follows from the published rows with fewer than ``k`` transactions: per
    origin, and its hidden origins together (``all`` less the published origins).

    Stop 56's attacker read a ring's 5 transactions as an outer zone less its two inner zones
    (each pair's difference passed), and a ring's hidden origins as (outer's ``all`` less
    its origins) less (inner's ``all`` less its origins). Conservative: the inner zones go
    whole, until no ring is left under ``k``.
    """
    from .privacy import nested_items

    items = nested_items(nested)
    if not items or not len(g):
        return sup
    sup = sup.copy()
    pairs_of: dict[str, list] = {}
    for outer, inners, _ in items:
        if len(inners) == 1:
            pairs_of.setdefault(outer, []).append((outer, inners[0]))
    at = {(z, o): i for i, (z, o) in enumerate(zip(g["zone_id"].astype(str), g["origin"].astype(str)))}
    by_zone: dict[str, list[int]] = {}
    for (z, _), i in at.items():
        by_zone.setdefault(z, []).append(i)
    items = [it for it in items if it[0] in by_zone]  # (a zone without payments: no ring of it follows)
    for _ in range(len(items) + 1):
        changed = False
        for outer, inners, _rest in items:
            zones = [outer, *inners]
            if any(by_zone.get(zone) and all(sup[i] for i in by_zone[zone]) for zone in inners):
                continue  # (an inner zone already hidden whole: no ring follows)
            origins = {str(g["origin"].iat[i]) for i in by_zone[outer]}

            def known(zone: str, o: str) -> float | None:
                i = at.get((zone, o))
                return 0.0 if i is None else (None if sup[i] else float(tr[i]))

            rings = {}
            for o in origins:
                vals = [known(z, o) for z in zones]
                if all(v is not None for v in vals):
                    rings[o] = vals[0] - sum(vals[1:])
            if ALL in rings:  # (the hidden origins' ring: all less the published origins, outer less inner)
                published = [o for o in rings if o != ALL]
                rings["hidden"] = rings[ALL] - sum(rings[o] for o in published)
            if len(inners) == 1:  # (two inner zones that overlap: P + Q - U is their overlap less U's ring; a probe read
                # a shop's 5 transactions in the overlap of two zones as their sum less the zone holding both)
                others = [b for a, b in pairs_of.get(outer, ()) if b != inners[0]][:50]
                for q in others:
                    for o in origins:
                        vals = [known(z, o) for z in (inners[0], q, outer)]
                        if all(v is not None for v in vals):
                            rings[f"{o}&{q}"] = vals[0] + vals[1] - vals[2]
            if any(0 < v < k for v in rings.values()):
                hide = set(inners) | {key.split("&", 1)[1] for key in rings if "&" in key and 0 < rings[key] < k}
                for i in (i for z in hide for i in by_zone.get(z, ())):
                    if not sup[i]:
                        sup[i], changed = True, True
        if not changed:
            break
    return sup
