"""Generate a large, valid sistercity dataset file (SPEC "Dataset file") for the benchmarks.

    python bench/gen_dataset.py OUT.toml [--scale 1] [--seed 7] [--as-of 2026-06-01]

At scale 1: 10,000 partners, 30,000 agreements, 50,000 activities, 200 budget deadlines,
50 meetings, 36 working groups and 55 contacts. `--scale N` multiplies partners, agreements
and activities (the registry's size); contacts, groups, deadlines and meetings stay as they are
(an office does not get more staff or meetings because it has more partners).

The data is laid out around `--as-of` so that every job has work on that day: signing dates
are uniform since 1985 (about 1 agreement in 12 has an anniversary within the next 30 days);
about a third of the partners are dormant (no activity for over a year, or none at all and
signed long ago), the others had an activity within the last 300 days; deadlines fall within
60 days, and meetings within 14 days -- among them the yearly summary meeting of every working
group (like Chiang Mai's November meeting), whose agenda lists every partner.

`delivery_dataset` writes a different file: N working groups, each with its own lead and one
partner whose agreement has its anniversary on the as-of date, and no consulate, MFA or staff
contact, so that the anniversaries job queues exactly N messages, one per lead.

Only the standard library is used; the output is deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
from collections.abc import Iterator
from pathlib import Path

AS_OF = dt.date(2026, 6, 1)  # a Monday


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


COUNTRIES = _words(
    "CN JP KR MM ID TR LA VN KH MY SG PH IN BD NP LK PK US CA MX BR AR CL PE CO GB FR DE IT ES "
    "PT NL BE CH AT SE NO DK FI PL CZ HU RO BG GR RU UA KZ UZ MN AU NZ FJ ZA EG MA KE NG ET GH "
    "TZ AE SA QA IL JO KW OM BT MV BN AZ GE AM"
)
N_GROUPS = 36
N_CONSULATES = 12  # the first 12 countries have a consulate; the others go through the MFA
N_STAFF = 6
KINDS = ("sister-city", "mou", "loi", "friendship")
LEVELS = ("province-city", "city-city", "university-university", "organisation-organisation")
LOCAL_PARTIES = (
    "Chiang Mai Province",
    "Chiang Mai Municipality",
    "Chiang Mai University",
    "Chiang Mai Chamber of Commerce",
)
AREAS = ("economy", "trade", "tourism", "education", "culture", "public health", "sport")
ACTIVITY_KINDS = ("visit", "meeting", "event", "exchange", "letter", "other")
SYLLABLES = _words(
    "an ba chi do en fu ga hai ji ka lo ma na on pa qi ro sa ta u vi wa xi ya zen kor lin "
    "mar tes bur gen hol"
)
THAI = "กขคงจฉชซญดตถทนบปผพฟมยรลวสหอฮ"


def _q(text: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML)."""
    return json.dumps(text, ensure_ascii=False)


def _name(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()


def _thai(rng: random.Random) -> str:
    return "".join(rng.choice(THAI) for _ in range(rng.randint(3, 7)))


def _day(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randint(0, (end - start).days))


def _contacts(lines: list[str], groups: int, consulates: list[str], staff: int) -> None:
    for g in range(groups):
        lines += [
            "[[contact]]",
            f'id = "lead-{g:02d}"',
            f"name = {_q(f'Working group {g} lead')}",
            f'email = "lead-{g:02d}@example.org"',
            f'language = "{"th" if g % 3 else "en"}"',
            'role = "lead"',
            "",
        ]
    for country in consulates:
        c = country.lower()
        lines += [
            "[[contact]]",
            f'id = "{c}-consulate"',
            f"name = {_q(f'Consulate of {country} in Chiang Mai')}",
            f'email = "{c}-consulate@example.org"',
            'language = "en"',
            'role = "consulate"',
            "",
        ]
    lines += [
        "[[contact]]",
        'id = "mfa-desk"',
        'name = "Ministry of Foreign Affairs desk"',
        'email = "mfa-desk@example.org"',
        'language = "th"',
        'role = "mfa"',
        "",
    ]
    for s in range(staff):
        lines += [
            "[[contact]]",
            f'id = "staff-{s}"',
            f"name = {_q(f'International affairs staff {s}')}",
            f'email = "staff-{s}@example.org"',
            f'language = "{"th" if s % 2 else "en"}"',
            'role = "staff"',
            "",
        ]


def _split(rng: random.Random, total: int, parts: int, zero_share: float) -> list[int]:
    """`total` items over `parts` buckets; about `zero_share` of the buckets get none."""
    weights = [0.0 if rng.random() < zero_share else rng.random() + 0.2 for _ in range(parts)]
    if not any(weights):
        weights[0] = 1.0
    counts = [0] * parts
    for i in rng.choices(range(parts), weights=weights, k=total):
        counts[i] += 1
    return counts


def _partners(
    rng: random.Random, n: int, n_agreements: int, n_activities: int, as_of: dt.date
) -> Iterator[list[str]]:
    """Partner blocks. About 1 in 3 partners has been quiet for over a year (dormant)."""
    agreements = _split(rng, n_agreements - n, n, 0.3)  # every partner has at least one
    activities = _split(rng, n_activities, n, 0.1)
    group_countries = COUNTRIES[: N_GROUPS * 2]
    for i in range(n):
        name = f"{_name(rng)} {i}"
        country = group_countries[i % len(group_countries)]
        block = [
            "[[partner]]",
            f'id = "partner-{i:06d}"',
            f"name = {_q(name)}",
            f"name_th = {_q(_thai(rng) + f' {i}')}",
            f"city = {_q(name)}",
            f'country = "{country}"',
        ]
        if i % 50 == 0:  # a few placed in another group than their country's
            block.append(f'working_group = "group-{rng.randrange(N_GROUPS):02d}"')
        block.append("")
        keys: set[tuple[str, dt.date, str]] = set()
        for _ in range(1 + agreements[i]):
            while True:
                kind = rng.choices(KINDS, weights=(4, 3, 2, 1))[0]
                signed = _day(rng, dt.date(1985, 1, 1), as_of - dt.timedelta(days=1))
                party = rng.choice(LOCAL_PARTIES)
                if (kind, signed, party) not in keys:
                    keys.add((kind, signed, party))
                    break
            block += [
                "  [[partner.agreement]]",
                f'  kind = "{kind}"',
                f"  signed_on = {signed.isoformat()}",
                f"  local_party = {_q(party)}",
                f'  level = "{rng.choice(LEVELS)}"',
                f"  title = {_q(f'Agreement on {rng.choice(AREAS)} cooperation')}",
                "  areas = [" + ", ".join(_q(a) for a in rng.sample(AREAS, 2)) + "]",
            ]
            if rng.random() < 0.2:
                expires = signed + dt.timedelta(days=rng.randint(365, 365 * 15))
                block.append(f"  expires_on = {expires.isoformat()}")
            block.append("")
        # active partners had their latest activity within the last 300 days
        dormant = rng.random() < 1 / 3
        latest = as_of - dt.timedelta(days=rng.randint(400, 3000) if dormant else 1)
        seen: set[tuple[dt.date, str]] = set()
        for k in range(activities[i]):
            while True:
                first = dt.date(2000, 1, 1) if k else latest - dt.timedelta(days=299)
                day = _day(rng, first, latest)
                title = f"{rng.choice(ACTIVITY_KINDS).capitalize()} on {rng.choice(AREAS)}"
                if (day, title) not in seen:
                    seen.add((day, title))
                    break
            block += [
                "  [[partner.activity]]",
                f"  date = {day.isoformat()}",
                f"  title = {_q(title)}",
                f'  kind = "{rng.choice(ACTIVITY_KINDS)}"',
                "",
            ]
        yield block


def _deadlines(rng: random.Random, n: int, as_of: dt.date) -> list[str]:
    lines: list[str] = []
    for d in range(n):
        groups = rng.sample(range(N_GROUPS), rng.randint(1, 3)) if d % 4 else []
        lines += [
            "[[budget_deadline]]",
            f'id = "deadline-{d:03d}"',
            f'title = "Submit the FY{{next_fiscal_year}} plan and budget request, part {d}"',
            f'title_th = "ส่งแผนและคำของบประมาณ ปีงบประมาณ {{next_fiscal_year}} ส่วนที่ {d}"',
        ]
        if d % 2:  # yearly, on a date within a year of as_of
            start = _day(rng, as_of - dt.timedelta(days=720), as_of - dt.timedelta(days=365))
            lines += [f"dtstart = {start.isoformat()}", 'rrule = "FREQ=YEARLY"']
        else:
            due = _day(rng, as_of - dt.timedelta(days=90), as_of + dt.timedelta(days=270))
            lines.append(f"due_on = {due.isoformat()}")
        lines.append("working_groups = [" + ", ".join(f'"group-{g:02d}"' for g in groups) + "]")
        lines.append("")
    return lines


def _meetings(rng: random.Random, n: int, as_of: dt.date) -> list[str]:
    """The yearly summary meeting of every group (10 days after as_of), monthly meetings of
    one or two groups, and one-off meetings of one to three groups within a year."""
    lines: list[str] = []
    for m in range(n):
        lines += [
            "[[meeting]]",
            f'id = "meeting-{m:02d}"',
            f"title = {_q(f'Sister-city working groups meeting {m}')}",
            f"title_th = {_q(f'ประชุมคณะทำงานเมืองพี่เมืองน้อง ครั้งที่ {m}')}",
        ]
        if m == 0:
            start = dt.datetime.combine(as_of.replace(year=as_of.year - 3), dt.time(9, 30))
            start += dt.timedelta(days=10)
            lines += [f"dtstart = {start.isoformat()}", 'rrule = "FREQ=YEARLY"']
            groups: list[int] = []
        elif m <= 12:
            start = dt.datetime.combine(
                _day(rng, as_of - dt.timedelta(days=400), as_of - dt.timedelta(days=40)),
                dt.time(rng.choice((9, 10, 13, 14)), 0),
            )
            lines += [f"dtstart = {start.isoformat()}", 'rrule = "FREQ=MONTHLY"']
            groups = rng.sample(range(N_GROUPS), rng.randint(1, 2))
        else:
            when = _day(rng, as_of - dt.timedelta(days=180), as_of + dt.timedelta(days=180))
            lines.append(f"starts_at = {when.isoformat()}T13:30:00")
            groups = rng.sample(range(N_GROUPS), rng.randint(1, 3))
        lines += [
            f"duration_minutes = {rng.choice((60, 90, 120, 180))}",
            'location = "Operations room, Chiang Mai Provincial Hall"',
            "working_groups = [" + ", ".join(f'"group-{g:02d}"' for g in groups) + "]",
            f"invite_consulates = {'true' if m % 3 else 'false'}",
            "",
        ]
    return lines


def generate(
    path: Path,
    *,
    partners: int = 10_000,
    agreements: int = 30_000,
    activities: int = 50_000,
    deadlines: int = 200,
    meetings: int = 50,
    seed: int = 7,
    as_of: dt.date = AS_OF,
) -> dict[str, int]:
    """Write the dataset to `path`; return what it holds."""
    if agreements < partners:
        raise ValueError("every partner has at least one agreement: agreements >= partners")
    rng = random.Random(seed)
    consulates = COUNTRIES[:N_CONSULATES]
    lines = [f"# Generated by bench/gen_dataset.py (seed {seed}, as of {as_of.isoformat()})", ""]
    _contacts(lines, N_GROUPS, consulates, N_STAFF)
    for g in range(N_GROUPS):
        countries = COUNTRIES[2 * g : 2 * g + 2]
        lines += [
            "[[working_group]]",
            f'id = "group-{g:02d}"',
            f"name = {_q(f'Group {g} ({countries[0]}, {countries[1]})')}",
            f"name_th = {_q(f'คณะทำงาน {g}')}",
            f'lead = "lead-{g:02d}"',
            "countries = [" + ", ".join(f'"{c}"' for c in countries) + "]",
            "",
        ]
    for country in consulates:
        contact = f"{country.lower()}-consulate"
        lines += ["[[consulate]]", f'country = "{country}"', f'contact = "{contact}"', ""]
    lines += ["[mfa]", 'contact = "mfa-desk"', ""]
    counts = {"partners": partners, "agreements": 0, "activities": 0}
    with path.open("w", encoding="utf-8") as out:
        out.write("\n".join(lines))
        out.write("\n")
        for block in _partners(rng, partners, agreements, activities, as_of):
            counts["agreements"] += block.count("  [[partner.agreement]]")
            counts["activities"] += block.count("  [[partner.activity]]")
            out.write("\n".join(block))
            out.write("\n")
        out.write("\n".join(_deadlines(rng, deadlines, as_of)))
        out.write("\n")
        out.write("\n".join(_meetings(rng, meetings, as_of)))
        out.write("\n")
    counts.update(
        deadlines=deadlines,
        meetings=meetings,
        working_groups=N_GROUPS,
        contacts=N_GROUPS + N_CONSULATES + 1 + N_STAFF,
    )
    return counts


def delivery_dataset(path: Path, messages: int, *, as_of: dt.date = AS_OF) -> None:
    """N groups, each with a lead and one partner whose agreement has its anniversary on
    `as_of`: the anniversaries job then queues exactly N messages (one per lead)."""
    lines = ["# Generated by bench/gen_dataset.py for the delivery benchmark", ""]
    for i in range(messages):
        lines += [
            "[[contact]]",
            f'id = "lead-{i:05d}"',
            f"name = {_q(f'Lead {i}')}",
            f'email = "lead-{i:05d}@example.org"',
            f'language = "{"th" if i % 2 else "en"}"',
            'role = "lead"',
            "",
            "[[working_group]]",
            f'id = "group-{i:05d}"',
            f"name = {_q(f'Group {i}')}",
            f'lead = "lead-{i:05d}"',
            "",
            "[[partner]]",
            f'id = "partner-{i:05d}"',
            f"name = {_q(f'Partner city {i}')}",
            f"name_th = {_q(f'เมืองคู่มิตร {i}')}",
            f'country = "{COUNTRIES[i % len(COUNTRIES)]}"',
            f'working_group = "group-{i:05d}"',
            "",
            "  [[partner.agreement]]",
            '  kind = "sister-city"',
            f"  signed_on = {as_of.replace(year=as_of.year - 1 - i % 20).isoformat()}",
            '  local_party = "Chiang Mai Province"',
            '  areas = ["economy", "tourism"]',
            "",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=AS_OF)
    args = parser.parse_args()
    counts = generate(
        args.out,
        partners=int(10_000 * args.scale),
        agreements=int(30_000 * args.scale),
        activities=int(50_000 * args.scale),
        seed=args.seed,
        as_of=args.as_of,
    )
    print(json.dumps({"file": str(args.out), **counts}))


if __name__ == "__main__":
    main()
