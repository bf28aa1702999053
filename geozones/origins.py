"""Origins: where the people counted come from.

An origin code in a counts file is one of:

* a Belgian NIS code of five digits: a municipality (``"34022"`` Kortrijk) or a province
  (``"30000"`` West-Vlaanderen; ``"04000"`` stands for the Brussels-Capital Region);
* a mobile country code of three digits, for roaming phones (``"208"`` France,
  ``"204"`` Netherlands; ``"206"`` is Belgium with no known home region);
* an ISO 3166 alpha-2 country code (``"FR"``);
* ``"all"`` when the counts have no origin breakdown, or ``"unknown"``.

Origins roll up from municipality to province to country (:func:`rollup_codes`). Names
come from bundled tables: the Flemish and Brussels municipalities and all provinces
(Statbel codes, via provinciesincijfers, Modellicentie Gratis Hergebruik) and the mobile
country codes (musalbas/mcc-mnc-table, MIT).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from ._words import plural

__all__ = [
    "unknown_municipalities",
    "LEVELS",
    "ALL",
    "UNKNOWN",
    "RESIDENT",
    "province_of",
    "successor",
    "SUCCESSORS",
    "MERGED_2025",
    "MERGERS_2025",
    "normalize_origins",
    "rollup_codes",
    "homes_kept",
    "origin_names",
    "home_municipalities",
    "homes_counted_in",
    "at_level",
    "code_of",
]

#: Origin levels, finest first.
LEVELS = ("municipality", "province", "country", "none")
#: Origin of counts without a breakdown, and of totals over origins.
ALL = "all"
UNKNOWN = "unknown"
#: An origin field that gives none: empty, or an export's null written out. Read as
#: ``unknown``, and said (a stray null adds an origin to every zone and period).
BLANK = frozenset({"", "nan", "none", "null"})
#: Origin of people whose home municipality is the zone's own (see ``residents``).
RESIDENT = "resident"



def at_level(code: str, level: str) -> str:
    """An origin ``code`` named as another ``level``'s (``province:30000``): what the same
    code is called beside a run at another origin level where it holds other people
    (:func:`geozones.earlier.two_levels`).
    """
    return f"{level}:{code}"


def code_of(origins: pd.Series) -> pd.Series:
    """The origin codes without the level :func:`at_level` put before them."""
    return origins.astype(str).str.replace(r"^[a-z]+:", "", regex=True)


_PROVINCE_BY_PREFIX = {
    "11": "10000", "12": "10000", "13": "10000",
    "21": "04000",
    "23": "20001", "24": "20001",
    "25": "20002",
}
_PROVINCE_BY_FIRST = {"3": "30000", "4": "40000", "5": "50000", "6": "60000", "7": "70000", "8": "80000", "9": "90000"}
_PROVINCES = {"10000", "04000", "20001", "20002", "30000", "40000", "50000", "60000", "70000", "80000", "90000"}


def province_of(nis: str) -> str | None:
    """The province code of a five-digit Belgian NIS code, or None if it is not one.

    >>> province_of("34022")
    '30000'
    >>> province_of("21004")
    '04000'
    """
    if len(nis) != 5 or not nis.isdigit():
        return None
    if nis in _PROVINCES:
        return nis
    return _PROVINCE_BY_PREFIX.get(nis[:2]) or _PROVINCE_BY_FIRST.get(nis[0])


@lru_cache(maxsize=1)
def _countries() -> pd.DataFrame:
    with resources.files("geozones").joinpath("data", "countries.csv").open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


#: Municipalities made on 1 January 2025 by mergers (Statbel, REFNIS 2025): the new code,
#: its name, and the codes of the municipalities it was made of.
MERGERS_2025 = {
    "23106": ("Pajottegem", ("23023", "23024", "23032")),  # Galmaarden, Gooik, Herne
    "37021": ("Wingene", ("37012", "37018")),  # Ruiselede, Wingene
    "37022": ("Tielt", ("37007", "37015")),  # Meulebeke, Tielt
    "44086": ("Nazareth-De Pinte", ("44012", "44048")),
    "44087": ("Lochristi", ("44034", "44073")),  # Lochristi, Wachtebeke
    "44088": ("Merelbeke-Melle", ("44040", "44043")),
    "46029": ("Lokeren", ("46014", "44045")),  # Lokeren, Moerbeke
    "46030": ("Beveren-Kruibeke-Zwijndrecht", ("46003", "46013", "11056")),
    "71071": ("Tessenderlo-Ham", ("71057", "71069")),
    "71072": ("Hasselt", ("71022", "73040")),  # Hasselt, Kortessem
    "73110": ("Bilzen-Hoeselt", ("73006", "73032")),
    "73111": ("Tongeren-Borgloon", ("73009", "73083")),
    "82039": ("Bastogne", ("82003", "82005")),  # Bastogne, Bertogne
}
#: The codes the 2025 mergers made.
MERGED_2025 = frozenset(MERGERS_2025)
#: Municipalities merged on 1 January 2019, by the code of their successor (Statbel).
#: Their old codes are taken as the successor's.
SUCCESSORS = {
    "44001": "44084", "44029": "44084",  # Aalter, Knesselare -> Aalter
    "44011": "44083", "44049": "44083",  # Deinze, Nevele -> Deinze
    "45017": "45068", "45057": "45068",  # Kruishoutem, Zingem -> Kruisem
    "72040": "72042", "71047": "72042",  # Meeuwen-Gruitrode, Opglabbeek -> Oudsbergen
    "72025": "72043", "72029": "72043",  # Neerpelt, Overpelt -> Pelt
    "12030": "12041", "12034": "12041",  # Puurs, Sint-Amands -> Puurs-Sint-Amands
    "44036": "44085", "44072": "44085", "44080": "44085",  # Lovendegem, Waarschoot, Zomergem -> Lievegem
}
#: Each code the 2025 mergers ended or made, with every code of its merger (old and new):
#: codes of one municipality that a run does not take as one (both stay valid origins, as
#: operators and statistics use both for a while), named when zones and counts disagree.
_SAME_2025 = {c: (new, *olds) for new, (_, olds) in MERGERS_2025.items() for c in (new, *olds)}
#: The first digits of NIS codes whose municipalities geozones knows all of (Flanders and
#: Brussels): a code there that is not a municipality is refused. Walloon codes are taken
#: as their province (the bundled list does not hold their municipalities).
_CHECKED = ("1", "21", "23", "24", "3", "4", "7")
#: The arrondissements (a NIS code's first two digits), those of before 2019 included.
_ARRONDISSEMENTS = frozenset("11 12 13 21 23 24 25 31 32 33 34 35 36 37 38 41 42 43 44 45 46 51 52 53 54 55 56 57 58 "
                             "61 62 63 64 71 72 73 81 82 83 84 85 91 92 93".split())


@lru_cache(maxsize=1)
def _known_municipalities() -> frozenset[str]:
    return frozenset(_belgian()["code"])


def successor(nis: str) -> str:
    """The code a municipality has now: merged municipalities' old codes become their successor's.

    Parameters
    ----------
    nis : str
        A five-digit NIS code.

    Returns
    -------
    str
        The successor's code (see :data:`SUCCESSORS`), or ``nis`` itself.
    """
    return SUCCESSORS.get(nis, nis)


@lru_cache(maxsize=1)
def _belgian() -> pd.DataFrame:
    with resources.files("geozones").joinpath("data", "be_origins.csv").open("r", encoding="utf-8") as fh:
        b = pd.read_csv(fh, dtype=str, keep_default_na=False)
    made = pd.DataFrame([(c, name, "municipality", province_of(c)) for c, (name, _) in MERGERS_2025.items()],
                        columns=["code", "name", "level", "parent"])  # (the bundled list is of 2024)
    return pd.concat([b, made], ignore_index=True)


def _classify(code: str) -> tuple[str, str]:
    """(level, normalised code) of one distinct origin code."""
    c = code.strip()
    if c.lower() in BLANK or c.lower() == UNKNOWN:
        return "unknown", UNKNOWN
    if c.lower() == ALL:
        return "none", ALL
    if c.isdigit() and len(c) == 4:  # "4000": a NIS code that lost its leading zero
        c = "0" + c
    if c.isdigit() and len(c) == 5:
        c = successor(c)
        p = province_of(c)
        if p is None:
            return "invalid", c
        if c == p:
            return "province", c
        if c.startswith(_CHECKED) and not c.startswith("25") and c not in _known_municipalities():
            return "invalid", c  # (no Belgian municipality has this code)
        if c[:2] not in _ARRONDISSEMENTS or c[2:] == "000":
            return "invalid", c  # (a Walloon code outside every arrondissement)
        return "municipality", c
    if c.isdigit() and len(c) == 3:
        iso = dict(zip(_countries()["mcc"], _countries()["iso"])).get(c)
        return ("country", iso) if iso else ("invalid", c)
    if len(c) == 2 and c.isalpha():
        return ("country", c.upper()) if c.upper() in _iso_codes() else ("invalid", c)  # ("UK" is GB)
    return "invalid", c


@lru_cache(maxsize=1)
def _iso_codes() -> frozenset[str]:
    """The ISO 3166 alpha-2 codes of the bundled country table (every country with a mobile
    country code, Kosovo's XK included).
    """
    return frozenset(_countries()["iso"])


def blank_origins(codes) -> np.ndarray:
    """Whether each origin code gives no origin (a null, an empty field, or ``nan``, ``None``,
    ``NULL`` as exports write a null): such rows are read as origin ``unknown``.
    """
    s = pd.Series(np.asarray(codes, dtype=object))
    return (s.isna() | s.astype(str).str.strip().str.lower().isin(BLANK)).to_numpy()


def no_origin_note(rows: int) -> str:
    """What a run says of ``rows`` rows of counts that give no origin."""
    return (f"{rows:,} row{'s' if rows != 1 else ''} of the counts give{'' if rows != 1 else 's'} no origin (an empty field): "
            "counted under origin 'unknown'")


def normalize_origins(codes: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Normalise origin codes and say the level of each.

    Parameters
    ----------
    codes : pandas.Series of str
        Origin codes as read from a counts file.

    Returns
    -------
    (codes, levels) : two pandas.Series
        Normalised codes (NIS5, ISO alpha-2 country, ``"all"`` or ``"unknown"``; MCCs become
        ISO codes and ``"206"`` becomes ``"BE"``), and their level: ``"municipality"``,
        ``"province"``, ``"country"``, ``"none"``, ``"unknown"`` or ``"invalid"``.
    """
    cat = pd.Categorical(codes.astype(str))
    pairs = [_classify(c) for c in cat.categories]  # one per distinct code, not per row
    levels = np.array([p[0] for p in pairs] + ["unknown"], dtype=object)
    norm = np.array([p[1] for p in pairs] + [UNKNOWN], dtype=object)
    idx = np.where(cat.codes < 0, len(pairs), cat.codes)
    return pd.Series(norm[idx], index=codes.index), pd.Series(levels[idx], index=codes.index)


def homes_kept(residents: Mapping[str, str] | None, level: str) -> frozenset[str]:
    """The home municipalities whose codes a roll-up to ``level`` keeps as they are.

    A zone's own municipality is its ``resident`` origin; in a zone with another home or
    none, the same people keep their municipality's code rather than joining their
    province (or ``BE``), so that every origin is the same people in every zone: the
    disclosure audit reads the figures over shared unknowns (``resident`` under the home's
    code, :func:`geozones.auditinput.home_labels`). Nothing is kept at level ``none``.
    """
    if not residents or level == "none":
        return frozenset()
    return frozenset(str(v) for v in residents.values())


def rollup_codes(codes: pd.Series, level: str, *, keep: frozenset[str] = frozenset()) -> pd.Series:
    """Map normalised origin codes to a coarser level.

    ``municipality`` keeps codes as they are; ``province`` maps municipalities to their
    province; ``country`` maps every Belgian code to ``"BE"``; ``none`` maps everything to
    ``"all"``. Countries, ``"unknown"`` and ``"resident"`` stay as they are (below ``none``).
    Codes in ``keep`` are left as they are (municipalities whose residents are set apart later).
    """
    if level not in LEVELS:
        from .errors import InputError

        raise InputError(f"unknown origin level {level!r}", hint=f"choose one of {', '.join(LEVELS)}")
    cat = pd.Categorical(codes.astype(str))
    mapped = []
    for c in cat.categories:
        if c in keep:
            mapped.append(c)
        elif level == "none":
            mapped.append(ALL)
        elif level == "municipality" or not (c.isdigit() and len(c) == 5):
            mapped.append(c)
        elif level == "province":
            mapped.append(province_of(c) or c)
        else:
            mapped.append("BE")
    arr = np.array(mapped + [UNKNOWN], dtype=object)
    return pd.Series(arr[np.where(cat.codes < 0, len(mapped), cat.codes)], index=codes.index)


def origin_names(codes, level: str | None = None) -> dict[str, str]:
    """Readable names of origin codes: ``{"30000": "West-Vlaanderen", "FR": "France", ...}``.

    Codes without a known name (e.g. Walloon municipalities) are named by their code.
    ``level``: the run's origin level; at ``country`` ``BE`` is all of Belgium, below it the
    Belgians whose region is unknown.
    """
    be = dict(zip(_belgian()["code"], _belgian()["name"]))
    countries = _countries().drop_duplicates("iso")
    world = dict(zip(countries["iso"], countries["name"]))
    world["BE"] = "Belgium" if level == "country" else "Belgium (region unknown)"
    special = {ALL: "all origins", UNKNOWN: "unknown", RESIDENT: "residents"}
    out = {}
    for c in pd.unique(pd.Series(list(codes), dtype=object).astype(str)):
        out[c] = special.get(c) or be.get(c) or world.get(c) or c
    return out


def _nis_text(v) -> str:
    """A zone's municipality as 5-digit text: numbers (44021, or 44021.0 where another zone
    file left the property out and the column became floats) and text alike; "" if none.
    """
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, (int, float, np.integer, np.floating)) and float(v).is_integer():
        v = int(v)
    return str(v).strip().zfill(5)


def home_municipalities(zones: pd.DataFrame) -> dict[str, str] | None:
    """Each zone's own municipality, whose residents a run sets apart as ``resident``.

    Parameters
    ----------
    zones : pandas.DataFrame
        Zones with ``zone_id`` and a ``municipality`` (or ``nis``, ``gemeente``) property:
        a NIS code as text or a number. A zone file without the property leaves it missing
        on its zones: they keep their residents among the visitors; a property that is not
        a NIS code (a name) is warned about.

    Returns
    -------
    dict of str to str, or None
        Zone id -> the municipality's current code (:func:`successor`); None when the zones
        have no such property.
    """
    log = logging.getLogger("geozones")
    for col in ("municipality", "nis", "gemeente"):
        if col in zones.columns:
            codes = zones[col].map(_nis_text)
            bad = [(z, v) for z, v, c in zip(zones["zone_id"], zones[col], codes) if c and not (c.isdigit() and len(c) == 5)]
            if bad:
                log.warning("%s with a %s that is not a 5-digit NIS code (e.g. zone %r: %r): their residents are "
                            "counted among the visitors; give the NIS code (34022 for Kortrijk)", plural(len(bad), "zone"), col, *bad[0])
            return {z: successor(c) for z, c in zip(zones["zone_id"], codes) if c.isdigit() and len(c) == 5}
    log.info("zones have no 'municipality' property: residents are not separated from visitors")
    return None


def unknown_municipalities(homes: dict[str, str] | None) -> dict[str, str]:
    """The zones whose home municipality (:func:`home_municipalities`) is no Belgian
    municipality's code (a province's, or none at all: ``99999``), with that code.
    """
    if not homes:
        return {}
    b = _belgian()
    known = set(b.loc[b["level"] == "municipality", "code"])
    return {z: c for z, c in homes.items() if c not in known}


def homes_counted_in(residents: dict[str, str] | None, origins) -> bool:
    """Whether any count has the code of a zone's home municipality (so that its residents
    are set apart); warns when the zones name homes that no count has.

    Parameters
    ----------
    residents : dict or None
        :func:`home_municipalities`.
    origins : iterable of str
        The counts' origin codes.

    Returns
    -------
    bool
    """
    if not residents:
        return False
    unknown = unknown_municipalities(residents)
    if unknown:
        z = next(iter(unknown))
        logging.getLogger("geozones").warning(
            "%s naming a municipality that is not a Belgian municipality code (e.g. zone %r: %r): their residents are "
            "counted among the visitors; give the municipality's NIS code (34022 for Kortrijk)", plural(len(unknown), "zone"), z, unknown[z])
    homes = set(residents.values())
    codes = {str(o) for o in origins}
    if not homes & codes:
        logging.getLogger("geozones").warning(
            "the zones name their municipality (%s), but no count has its code (origins such as %s): no resident is set apart "
            "and residents count among the visitors; %s",
            ", ".join(sorted(homes)[:3]) + (", ..." if len(homes) > 3 else ""), ", ".join(sorted(codes)[:4]) or "none",
            _merged_words(homes, codes) or "give counts with municipality codes (NIS) to set them apart")
    elif missing := {z: c for z, c in residents.items() if c not in codes and z not in unknown}:
        # (some zones' homes are counted, these are not: their residents count among the visitors)
        z = next(iter(missing))
        logging.getLogger("geozones").warning(
            "%s naming a municipality that no count has (e.g. zone %r: %s): their residents count among the visitors%s",
            plural(len(missing), "zone"), z, missing[z], "; " + w if (w := _merged_words(set(missing.values()), codes)) else "")
    return bool(homes & codes)


def _merged_words(homes: set[str], codes: set[str]) -> str:
    """What to do when zones name a municipality by one code of a 2025 merger and the counts
    use another (zones drawn on the outlines of 2024, counts of 2026): "" when none does.
    """
    for h in sorted(homes):
        other = [c for c in _SAME_2025.get(h, ()) if c != h and c in codes]
        if other:
            new = _SAME_2025[h][0]
            made = f"part of {new} ({MERGERS_2025[new][0]})" if h != new else f"made of {', '.join(_SAME_2025[h][1:])}"
            return (f"the zones' {h} is {made} since the 2025 mergers, and the counts have "
                    f"{' and '.join(other)}: give the zones the code the counts use (municipality {other[0]}"
                    + (", which sets apart the people counted under it alone)" if len(other) > 1 else ")"))
    return ""
