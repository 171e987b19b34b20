"""Planning a pipeline's jobs: when each goes pending, runs and ends, and what it logs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from airflow_provider_dataops.emulator.model import Job, JUnitCase

#: (stage, job name) of every emulated pipeline, in order; one job per stage.
STAGES: tuple[tuple[str, str], ...] = (
    ("Pipeline Initialisation", "Initialise Pipeline"),
    ("Data Ingestion", "Ingest Source Data"),
    ("Data Transformation", "Build all Models"),
    ("Generate Docs", "Generate Docs"),
)

#: The job that publishes a JUnit report: the last of :data:`STAGES`, whose ending the outcome decides.
REPORTING_JOB = STAGES[-1][1]

#: The manual deployment stage that ``DATAOPS_EMULATOR_OUTCOME=manual_deploy`` adds after :data:`STAGES`.
DEPLOY_STAGE = ("Deploy", "Deploy to Production")

#: Values of the ``DATAOPS_EMULATOR_OUTCOME`` pipeline variable. ``tests_failed``: the last job fails
#: but is allowed to (``allow_failure``), so the pipeline succeeds with failed tests.
OUTCOMES = ("success", "failed", "canceled", "manual", "manual_deploy", "skipped", "tests_failed")
#: Values of ``DATAOPS_EMULATOR_OUTCOME`` as a job variable of a play: how the played job ends.
PLAY_OUTCOMES = ("success", "failed")
#: Values of a level of ``DATAOPS_EMULATOR_CHILD_OUTCOME``: how a child pipeline ends.
CHILD_OUTCOMES = ("success", "failed", "canceled")

#: The stage a ``DATAOPS_EMULATOR_CHILD_OUTCOME`` pipeline adds before the last of :data:`STAGES`:
#: a trigger job (bridge) that starts a child pipeline and follows its status.
BRIDGE_STAGE = ("Child Pipeline", "Trigger Child Pipeline")

#: Values of ``DATAOPS_EMULATOR_LOG_STYLE``: ``runner`` writes logs as a GitLab runner does (ANSI
#: colours, collapsible sections, ``\r`` progress) and echoes the pipeline's variables, as a careless
#: script would; ``plain`` (the default) writes bare lines.
LOG_STYLES = ("plain", "runner")
#: Outcomes ``DATAOPS_EMULATOR_FAIL_JOB`` combines with: a pipeline whose jobs would otherwise run.
FAIL_JOB_OUTCOMES = ("success", "manual_deploy")

#: A pipeline is ``created`` for this share of its duration, then ``pending`` ...
PENDING_SHARE = 0.1
#: ... until this share, after which the jobs run one stage after another.
RUNNING_SHARE = 0.2


def cancel_delay(seconds: float) -> float:
    """How long a job stays ``canceling`` before ``canceled``.

    :param seconds: the pipeline's duration.
    """
    return min(1.0, seconds / 10)


def stages_for(outcome: str, *, bridge: bool = False) -> tuple[tuple[str, str], ...]:
    """The ``(stage, job name)`` pairs of a pipeline with ``outcome``: a gated one has a deploy stage.

    :param bridge: add :data:`BRIDGE_STAGE` before the last of :data:`STAGES`.
    """
    stages = (*STAGES[:-1], BRIDGE_STAGE, STAGES[-1]) if bridge else STAGES
    return (*stages, DEPLOY_STAGE) if outcome == "manual_deploy" else stages


def plan_jobs(
    stages: Sequence[tuple[str, str]],
    *,
    start: float,
    seconds: float,
    outcome: str,
    new_id: Callable[[], int],
    ref: str,
    sha: str,
    pipeline_file: str,
    runner_env: Mapping[str, str] | None = None,
    fail_job: str | None = None,
) -> list[Job]:
    """Plan one job per stage so that the pipeline settles on ``outcome`` at ``start + seconds``.

    :param stages: ``(stage, job name)`` pairs, in order.
    :param start: when the jobs are created (epoch seconds).
    :param seconds: how long until the pipeline settles.
    :param outcome: one of :data:`OUTCOMES`.
    :param new_id: hands out job ids.
    :param ref: the pipeline's ref, for the logs.
    :param sha: the pipeline's commit, for the logs.
    :param pipeline_file: the pipeline file, for the logs.
    :param runner_env: write runner-style logs that echo these variables; None for plain logs.
    :param fail_job: the name of a job that fails (``script_failure``) at the end of its slot; the
        later stages' jobs are then ``skipped``, as GitLab skips ``on_success`` jobs after a failure.
    :returns: the jobs, in stage order.
    """
    if outcome == "manual_deploy":
        outcome = "manual"
    end = start + seconds
    run_start = start + RUNNING_SHARE * seconds
    if outcome == "skipped":
        running = 0
    elif outcome == "manual":
        running = len(stages) - 1
    else:
        running = len(stages)
    slot = (end - run_start) / running if running else 0.0
    delay = cancel_delay(seconds)
    jobs = []
    for index, (stage, name) in enumerate(stages):
        job = Job(id=new_id(), name=name, stage=stage, created_at=start, end_at=end, final_status="skipped")
        if index < running:
            job.started_at = run_start + index * slot
            job.end_at = end if index == running - 1 else job.started_at + slot
            job.pending_at = start + PENDING_SHARE * seconds if index == 0 else job.started_at
            job.final_status = "success"
            is_last = index == len(stages) - 1
            if is_last and outcome in ("failed", "tests_failed"):
                job.final_status, job.failure_reason = "failed", "script_failure"
                job.allow_failure = outcome == "tests_failed"
            elif is_last and outcome == "canceled":
                job.final_status, job.cancel_at, job.cancel_delay = "canceled", end - delay, delay
            job.log_lines = job_log(
                stage,
                name,
                ref=ref,
                sha=sha,
                pipeline_file=pipeline_file,
                failed=job.final_status == "failed",
                runner_env=runner_env,
            )
            if name == REPORTING_JOB:
                job.test_cases = junit_cases(failed=job.final_status == "failed")
        elif outcome == "manual":
            job.final_status, job.when = "manual", "manual"
        jobs.append(job)
    if fail_job is not None:
        _fail_at(jobs, fail_job, ref=ref, sha=sha, pipeline_file=pipeline_file)
    return jobs


def _fail_at(jobs: list[Job], name: str, *, ref: str, sha: str, pipeline_file: str) -> None:
    """Make the job called ``name`` fail when its slot ends, and skip every job after it."""
    index = next(position for position, job in enumerate(jobs) if job.name == name)
    failing = jobs[index]
    assert failing.started_at is not None  # only running jobs can be chosen (checked by the caller)
    slot_end = failing.end_at
    failing.final_status, failing.failure_reason = "failed", "script_failure"
    failing.log_lines = job_log(failing.stage, failing.name, ref=ref, sha=sha, pipeline_file=pipeline_file, failed=True)
    if failing.name == REPORTING_JOB:
        failing.test_cases = junit_cases(failed=True)
    skip_jobs(jobs[index + 1 :], at=slot_end)


def skip_jobs(jobs: Iterable[Job], *, at: float) -> None:
    """Skip ``jobs`` at ``at``, as GitLab skips the later stages' jobs once one job failed or was canceled.

    A manual job is skipped too.

    :param jobs: jobs that have not started.
    :param at: when the job before them ended.
    """
    for job in jobs:
        job.pending_at = job.started_at = None
        job.end_at, job.final_status, job.when = at, "skipped", "on_success"
        job.log_lines, job.test_cases = (), ()


def replan_after(
    jobs: Sequence[Job],
    *,
    start: float,
    slot: float,
    ref: str,
    sha: str,
    pipeline_file: str,
) -> None:
    """Run skipped jobs again, one after another from ``start``, as GitLab re-processes them after a retry.

    GitLab keeps their ids: a skipped job goes back to ``created`` and runs when its stage comes.

    :param jobs: the skipped jobs, in stage order.
    :param start: when the first may start (the end of the retried job).
    :param slot: how long each runs.
    :param ref: the pipeline's ref, for the logs.
    :param sha: the pipeline's commit, for the logs.
    :param pipeline_file: the pipeline file, for the logs.
    """
    for index, job in enumerate(jobs):
        job.pending_at = job.started_at = start + index * slot
        job.end_at = job.started_at + slot
        job.final_status, job.failure_reason = "success", None
        job.log_lines = job_log(job.stage, job.name, ref=ref, sha=sha, pipeline_file=pipeline_file, failed=False)
        if job.name == REPORTING_JOB:
            job.test_cases = junit_cases(failed=False)


def stage_slot(seconds: float) -> float:
    """How long one stage's job runs in a pipeline of ``seconds``."""
    return seconds * (1 - RUNNING_SHARE) / len(STAGES)


def plan_play(
    job: Job,
    *,
    now: float,
    seconds: float,
    outcome: str,
    ref: str,
    sha: str,
    pipeline_file: str,
    job_seconds: float | None = None,
    runner_env: Mapping[str, str] | None = None,
) -> None:
    """Plan a played manual job: ``pending`` now, then ``running`` for a stage's share of the duration.

    :param job: a job whose status is ``manual``.
    :param now: when it was played.
    :param seconds: the pipeline's duration; the job takes the time one stage of it takes.
    :param job_seconds: how long the job takes instead (the play's ``DATAOPS_EMULATOR_SECONDS``).
    :param outcome: one of :data:`PLAY_OUTCOMES`.
    :param ref: the pipeline's ref, for the log.
    :param sha: the pipeline's commit, for the log.
    :param pipeline_file: the pipeline file, for the log.
    :param runner_env: write a runner-style log that echoes these variables; None for a plain log.
    """
    slot = stage_slot(seconds) if job_seconds is None else job_seconds
    job.pending_at, job.started_at, job.end_at = now, now + PENDING_SHARE * slot, now + slot
    failed = outcome == "failed"
    job.final_status, job.failure_reason = ("failed", "script_failure") if failed else ("success", None)
    job.log_lines = job_log(
        job.stage, job.name, ref=ref, sha=sha, pipeline_file=pipeline_file, failed=failed, runner_env=runner_env
    )


_STAGE_LINES = {
    "Pipeline Initialisation": (
        "[INFO] Initialising DataOps pipeline from {pipeline_file}",
        "[INFO] Resolving secrets from the DataOps vault",
        "[INFO] Pipeline-level variables written to /dataops/pipeline.env",
    ),
    "Data Ingestion": (
        "[INFO] Starting ingestion orchestrator",
        "[INFO] Loaded 12,345 rows into INGESTION.RAW_ORDERS",
        "[INFO] Loaded 678 rows into INGESTION.RAW_CUSTOMERS",
    ),
    "Data Transformation": (
        "[INFO] Running MATE: dbt build --select tag:all",
        "[INFO] 1 of 3 OK created sql view model TRANSFORM.STG_ORDERS",
        "[INFO] 2 of 3 OK created sql view model TRANSFORM.STG_CUSTOMERS",
        "[INFO] 3 of 3 OK created sql table model TRANSFORM.DIM_CUSTOMERS",
    ),
    "Generate Docs": (
        "[INFO] Generating MATE documentation",
        "[INFO] Catalog written to target/catalog.json",
    ),
    "Deploy": (
        "[INFO] Promoting TRANSFORM to PRODUCTION",
        "[INFO] Swapped schema PRODUCTION.MARTS with TRANSFORM.MARTS",
    ),
}

_FAILURE_LINES = (
    "[ERROR] Database Error in model DIM_CUSTOMERS (models/marts/dim_customers.sql)",
    "[ERROR]   000904 (42000): SQL compilation error: invalid identifier 'ORDER_TOTAL'",
    "[ERROR] Done. PASS=2 WARN=0 ERROR=1 SKIP=0 TOTAL=3",
)


#: The models the last job checks (its report holds one case each), as in the log's ``TOTAL=3``.
_TESTED_MODELS = ("stg_orders", "stg_customers", "dim_customers")


def junit_cases(*, failed: bool) -> tuple[JUnitCase, ...]:
    """The JUnit report of the last job: every model passes, or ``dim_customers`` fails.

    :param failed: the job fails (its log ends in the ``DIM_CUSTOMERS`` error).
    """
    cases = []
    for index, model in enumerate(_TESTED_MODELS):
        broken = failed and model == "dim_customers"
        cases.append(
            JUnitCase(
                name=f"model.dataops.{model}",
                classname=f"models.{'marts' if model.startswith('dim_') else 'staging'}",
                status="failed" if broken else "success",
                execution_time=round(0.4 + 0.3 * index, 2),
                file=f"models/{'marts' if model.startswith('dim_') else 'staging'}/{model}.sql",
                system_output="\n".join(_FAILURE_LINES[:2]) if broken else None,
            )
        )
    return tuple(cases)


def job_log(
    stage: str,
    name: str,
    *,
    ref: str,
    sha: str,
    pipeline_file: str,
    failed: bool,
    runner_env: Mapping[str, str] | None = None,
) -> tuple[str, ...]:
    """The trace of a job, shaped like a DataOps runner log.

    :param stage: the job's stage.
    :param name: the job's name.
    :param ref: the pipeline's ref.
    :param sha: the pipeline's commit.
    :param pipeline_file: the pipeline file.
    :param failed: end with an error instead of success.
    :param runner_env: dress the lines as a GitLab runner writes them (:func:`runner_log`), echoing
        these variables; None for plain lines.
    :returns: the log lines.
    """
    body = _STAGE_LINES.get(stage, (f"[INFO] Running {name}",))
    lines = [
        "Running with dataops-runner 17.11.0 (emulator)",
        "  on dataops-emulator-runner",
        'Preparing the "docker" executor',
        "Using docker image dataopslive/dataops-runner:5-stable ...",
        "Getting source from Git repository",
        "Fetching changes with git depth set to 20...",
        f"Checking out {sha[:8]} as detached HEAD (ref is {ref})...",
        'Executing "step_script" stage of the job script',
        "$ /dataops",
        *(line.format(pipeline_file=pipeline_file) for line in body),
    ]
    if failed:
        lines += [
            *_FAILURE_LINES,
            "Cleaning up project directory and file based variables",
            "ERROR: Job failed: exit code 1",
        ]
    else:
        lines += ["Cleaning up project directory and file based variables", "Job succeeded"]
    return tuple(lines) if runner_env is None else runner_log(lines, runner_env)


#: A fixed section timestamp keeps runner logs the same for the same pipeline.
_SECTION_TIME = 1767225600
_ERASE = "\x1b[0K"
_BOLD_CYAN, _GREEN, _RED, _RESET = "\x1b[36;1m", "\x1b[32;1m", "\x1b[31;1m", "\x1b[0;m"


def runner_log(lines: Sequence[str], runner_env: Mapping[str, str]) -> tuple[str, ...]:
    r"""Plain job log lines as a GitLab runner writes them.

    The preparation lines and the script run in collapsible sections
    (``section_start:<time>:<name>\r\x1b[0K<header>``), commands and results carry ANSI colours,
    a download shows ``\r`` progress rewrites, and the script echoes ``runner_env`` as ``KEY=value``.

    :param lines: the plain lines of :func:`job_log`.
    :param runner_env: the variables the script echoes.
    """
    script = lines.index("$ /dataops")
    # lines[script - 1] is the "step_script" header; the last line is the job's result.
    header, prepare, body, result = lines[0], lines[1 : script - 1], lines[script + 1 : -1], lines[-1]
    echoed = [f"{key}={value}" for key, value in runner_env.items()]

    def section(name: str, title: str, content: Sequence[str]) -> list[str]:
        return [
            f"section_start:{_SECTION_TIME}:{name}\r{_ERASE}{_BOLD_CYAN}{title}{_RESET}",
            *content,
            f"section_end:{_SECTION_TIME}:{name}\r{_ERASE}",
        ]

    def coloured(line: str) -> str:
        if line.startswith(("ERROR", "[ERROR]")):
            return f"{_RED}{line}{_RESET}"
        return f"{_GREEN}{line}{_RESET}" if line == "Job succeeded" else line

    return (
        f"{_BOLD_CYAN}{header}{_RESET}",
        *section("prepare_executor", prepare[1], [prepare[0], *prepare[2:]]),
        *section(
            "step_script",
            'Executing "step_script" stage of the job script',
            [
                f"{_GREEN}$ /dataops{_RESET}",
                "Pulling image 0%\rPulling image 50%\rPulling image 100%",
                "$ env | sort",
                *echoed,
                *(coloured(line) for line in body),
            ],
        ),
        coloured(result),
    )
