"""The background daemon. Arrows run down this list, never up:

* loop.py — the control loop on APScheduler and SIGTERM/SIGINT (`serve`, `ControlLoop`);
* service.py — the state machine and its work, with the time passed in (`Daemon`);
* schedule.py — cron triggers, next-run times, the APScheduler jobs;
* leadership.py — which daemon is active (SQLite flock, PostgreSQL lease with a fencing term);
* children.py — one job run in a short-lived spawned child process;
* trouble.py — repeated errors logged once.

"Once" never rests on the leadership alone: unique notice keys, the per-job advisory
transaction lock and SKIP LOCKED claims keep every message single even if two daemons briefly
both believe they are active (say, while a frozen one wakes up; its writes as leader then
fail their fence).
"""
