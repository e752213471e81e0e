"""``python -m geo alerts …``: alert rules from the command line (see :mod:`geo.alerts`)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

from geo.errors import InputError

ALERTS_HELP = """add NAME [condition] [channels]: a new rule; list; show NAME; test NAME (what
it matches now); disable NAME / enable NAME; remove NAME; deliver (send what is due);
feed NAME -o FILE.xml (its alerts as an Atom feed)"""


def add_alert_commands(sub, store_help: str) -> None:
    """The ``alerts`` command and its options."""
    alerts = sub.add_parser("alerts", help="rules that tell you when something happens",
                            description=ALERTS_HELP)
    alerts.add_argument("action", choices=["add", "list", "show", "test", "disable",
                                           "enable", "remove", "deliver", "feed"])
    alerts.add_argument("name", nargs="?", help="the rule's name")
    alerts.add_argument("--store", help=store_help)
    when = alerts.add_argument_group("condition (add)")
    when.add_argument("--types", help="incident types, e.g. drone,balloon")
    when.add_argument("--countries", help="airspaces, ISO3 codes, e.g. LTU,POL")
    when.add_argument("--confidence", help="e.g. confirmed,reported")
    when.add_argument("--start", type=dt.date.fromisoformat, help="YYYY-MM-DD")
    when.add_argument("--end", type=dt.date.fromisoformat, help="YYYY-MM-DD")
    when.add_argument("--near", metavar="PLACE:KM",
                      help="within KM (geodesic) of a place the gazetteer knows")
    when.add_argument("--border", metavar="belarus|kaliningrad:KM",
                      help="within KM of Belarus or of the Kaliningrad exclave")
    when.add_argument("--bbox", metavar="W,S,E,N", help="a box, degrees")
    when.add_argument("--area", type=Path, metavar="FILE.geojson", help="a polygon")
    how = alerts.add_argument_group("delivery (add)")
    how.add_argument("--webhook", default="", help="an http(s) address to POST JSON to")
    how.add_argument("--secret", default="",
                     help="the webhook's key: each body is signed, X-Flankwatch-Signature")
    how.add_argument("--email", default="", help="an address (SMTP: FLANKWATCH_SMTP_*)")
    how.add_argument("--cooldown", default="0", help="at most one message per this time, "
                     "e.g. 15m (alerts in between are sent together)")
    how.add_argument("--quiet", default="", help="hours with no message, UTC: 22:00-06:00")
    alerts.add_argument("--link", default="",
                        help="deliver/feed: the dashboard's address, for links to records")
    alerts.add_argument("-o", "--output", type=Path, help="feed: the file to write")
    alerts.set_defaults(func=cmd_alerts)


def _listed(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(v.strip() for v in text.split(",") if v.strip())


def _pair(text: str, option: str) -> tuple[str, float]:
    name, _, km = text.rpartition(":")
    try:
        value = float(km)
    except ValueError:
        value = -1.0
    if not name.strip() or not 0 < value <= 5000:
        msg = f"{option} {text!r}: expected NAME:KM with KM in (0, 5000]"
        raise InputError(msg)
    return name.strip(), value


def condition_from(args: argparse.Namespace):
    """The filter the condition options describe."""
    from geo.filters import IncidentFilter

    bbox = area = None
    if args.bbox:
        try:
            bbox = tuple(float(v) for v in args.bbox.split(","))
        except ValueError:
            bbox = ()
        if len(bbox) != 4 or not (bbox[0] < bbox[2] and bbox[1] < bbox[3]):
            msg = f"--bbox {args.bbox!r}: expected W,S,E,N with west < east, south < north"
            raise InputError(msg)
    if args.area:
        area = _area_of(args.area)
    near = _pair(args.border, "--border") if args.border else None
    if near and near[0].lower() not in ("belarus", "kaliningrad"):
        msg = f"--border {args.border!r}: belarus:KM or kaliningrad:KM"
        raise InputError(msg)
    around = _pair(args.near, "--near") if args.near else None
    if around:
        from geo.filters import place_point

        place_point(around[0])  # an unknown place is said now, not at every import
    return IncidentFilter(start=args.start, end=args.end, types=_listed(args.types),
                          countries=_listed(args.countries),
                          confidence=_listed(args.confidence),
                          near=(near[0].lower(), near[1]) if near else None, bbox=bbox,
                          area=area, around=around)


def _area_of(path: Path) -> tuple[tuple[float, float], ...]:
    """The outline of the first polygon of a GeoJSON file."""
    import shapely

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        features = data.get("features") or [data]
        geom = shapely.geometry.shape(features[0].get("geometry") or features[0])
    except (OSError, ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
        msg = f"--area {path}: not a GeoJSON polygon ({exc})"
        raise InputError(msg) from exc
    if geom.geom_type == "MultiPolygon":
        geom = max(geom.geoms, key=lambda g: g.area)
    if geom.geom_type != "Polygon" or not geom.is_valid:
        msg = f"--area {path}: its first geometry is not a valid polygon"
        raise InputError(msg)
    return tuple((float(x), float(y)) for x, y in geom.exterior.coords)


def _needs_name(args: argparse.Namespace) -> str:
    if not args.name:
        msg = f"alerts {args.action} needs the rule's NAME"
        raise InputError(msg)
    return args.name


def cmd_alerts(args: argparse.Namespace) -> int:
    from geo import alerts
    from geo.audit import current_user
    from geo.store import open_store

    store = open_store(args.store)
    who = current_user()
    if args.action == "add":
        rule = alerts.add_rule(store, _needs_name(args), condition_from(args), who=who,
                               webhook=args.webhook, secret=args.secret, email=args.email,
                               cooldown_s=alerts.seconds_of(args.cooldown), quiet=args.quiet)
        print(f"rule {rule.name!r} added: {rule.condition.describe()}")
    elif args.action == "list":
        for rule in alerts.list_rules(store):
            state = "on " if rule.enabled else "off"
            ways = ", ".join(c for c, _ in rule.channels()) or "feed only"
            print(f"{state} {rule.name}: {rule.condition.describe()} → {ways}")
    elif args.action == "show":
        rule = alerts.get_rule(store, _needs_name(args))
        print(f"{rule.name} ({'enabled' if rule.enabled else 'disabled'}), by {rule.owner}, "
              f"since {rule.created_at}")
        print(f"  matches: {rule.condition.describe()}")
        for channel, target in rule.channels():
            print(f"  {channel}: {target}" + (" (signed)" if channel == "webhook" else ""))
        if rule.cooldown_s or rule.quiet:
            print(f"  cooldown {rule.cooldown_s:g} s, quiet hours {rule.quiet or 'none'}")
        recent = alerts.alerts(store, rule=rule, limit=10)
        for row in recent.itertuples():
            print(f"  {row.created_at} {alerts.headline(row.state, row.facts)}")
    elif args.action == "test":
        rule = alerts.get_rule(store, _needs_name(args))
        found = alerts.matching_now(store, rule)
        print(f"{rule.name}: {len(found):,} incident(s) match now")
        for row in found.head(20).to_dict("records"):
            print(f"  {row['id']}: {' '.join(str(row['title'] or '').split())}")
    elif args.action in ("disable", "enable"):
        alerts.set_enabled(store, _needs_name(args), args.action == "enable", who=who)
        print(f"rule {args.name!r} {args.action}d")
    elif args.action == "remove":
        alerts.remove_rule(store, _needs_name(args), who=who)
        print(f"rule {args.name!r} removed")
    elif args.action == "deliver":
        print(alerts.deliver(store, link=args.link))
    else:  # feed
        rule = alerts.get_rule(store, _needs_name(args))
        if args.output is None:
            msg = "alerts feed needs -o FILE.xml"
            raise InputError(msg)
        args.output.write_bytes(alerts.feed_xml(store, rule, link=args.link))
        print(f"wrote {args.output}")
    return 0
