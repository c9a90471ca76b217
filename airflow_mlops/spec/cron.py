"""The schedule strings a pipeline may give: Airflow's presets, and cron expressions croniter accepts.

Airflow checks a cron expression only after the DAG file has run and then drops the DAG
naming no file or line; checking it while the YAML is validated reports it at its line.
"""

import functools
from datetime import datetime

from airflow_mlops.errors import SpecValueError

PRESETS = {"@once", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly", "@continuous"}
# The fields of a cron expression in croniter's order (what Airflow's cron timetables use): five,
# then optionally seconds and a year. What each one takes is croniter's ``RANGES``.
_CRON_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31 or L (the last day)"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-6 or SUN-SAT (7 is Sunday too)"),
    ("second", "0-59"),
    ("year", "1970-2099"),
)
_CRON_HINT = "five fields: minute hour day-of-month month day-of-week; '0 3 * * *' is 03:00 every day"


def check_cron(value: str) -> str:
    """A preset, or a cron expression that Airflow's cron timetables accept.

    Airflow checks the expression only after the DAG file has run (``CronMixin.validate`` in
    CronTriggerTimetable and CronDataIntervalTimetable) and then drops the DAG with an
    ``AirflowTimetableInvalid`` that names no file or line. The same check here reports the
    schedule at its line, when the file is validated.
    """
    if value in PRESETS:
        return value
    fields = value.split()
    if value.startswith("@") or not 5 <= len(fields) <= len(_CRON_FIELDS):
        import difflib  # only a file with a bad schedule pays for it

        close = difflib.get_close_matches(value, sorted(PRESETS), n=1) if value.startswith("@") else []
        raise SpecValueError(
            f"{value!r} is neither a cron expression ('0 3 * * *') nor a preset ({', '.join(sorted(PRESETS))})",
            f"did you mean {close[0]!r}?" if close else f"a cron expression has {_CRON_HINT}",
        )
    problem = _cron_problem(value)
    if problem is not None:
        raise SpecValueError(*problem)
    return value


# Pure in the expression, and a dags folder tends to reuse a few schedules: one DagBag or
# folder loader checks each distinct expression once.
@functools.lru_cache(maxsize=256)
def _cron_problem(value: str) -> tuple[str, str] | None:
    """Why croniter (what Airflow uses) refuses ``value``, naming the field at fault; None if it accepts it."""
    # croniter is imported by Airflow's timetables anyway, but not at parse time of a DAG file
    # without a cron schedule: only a cron schedule pays for it.
    from croniter import CroniterBadCronError, CroniterBadDateError, croniter

    fields = value.split()
    try:
        croniter(value)  # exactly what Airflow's CronMixin.validate() does
    except (CroniterBadCronError, CroniterBadDateError) as err:
        # Try each field alone (the others '*') to say which one is wrong.
        for index, field in enumerate(fields):
            probe = ["*"] * len(fields)
            probe[index] = field
            try:
                croniter(" ".join(probe))
            except (CroniterBadCronError, CroniterBadDateError) as field_err:
                name, accepts = _CRON_FIELDS[index]
                reason = str(field_err)
                why = "is out of range" if "out of range" in reason or "out of bands" in reason else "is not valid"
                return (
                    f"{value!r} is not a valid cron expression: the {name} field {field!r} {why}",
                    f"the {name} field takes {accepts}, '*', lists (1,15), ranges (1-5) and steps (*/10)",
                )
        return f"{value!r} is not a valid cron expression: {err}", f"a cron expression has {_CRON_HINT}"
    if _every_month_or_day(fields):
        return None
    try:
        # Accepted, but a day that never exists (February 30) would leave Airflow nothing to
        # schedule. Searched over croniter's whole year range, so a far-off year field still counts.
        croniter(value, start_time=datetime(1970, 1, 1), max_years_between_matches=2099 - 1970 + 1).get_next(datetime)
    except CroniterBadDateError:
        return (
            f"{value!r} never matches a date",
            "the day-of-month must exist in the month (and year) given: no 30 or 31 with month 2",
        )
    return None


def _every_month_or_day(fields: list[str]) -> bool:
    """Whether an accepted expression surely matches some date, without searching for one.

    Only a day-of-month that a restricted month lacks (February 30, April 31), or a year field,
    can leave an accepted expression with no date. Every day of the month, or every month
    (January has all 31 days), rules that out; that is most schedules, and the search costs
    more than croniter's own check.
    """
    day_of_month, month = fields[2], fields[3]
    return (len(fields) < 7 or fields[6] == "*") and (day_of_month in ("*", "?") or month == "*")
