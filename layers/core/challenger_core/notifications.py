"""Rendering of every email Challenger sends (SNS email is plain text; subjects ASCII, < 100 characters)."""

from __future__ import annotations

from dataclasses import dataclass

from challenger_core.cost import RunCost, summary
from challenger_core.drift import DriftReport
from challenger_core.models import MetricComparison, NotificationKind, Verdict

# SNS Publish: "Subjects must be ASCII text ...; must not include line breaks or control characters; and must be
# less than 100 characters long" (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html).
_SUBJECT_LIMIT = 99
_ELLIPSIS = "..."
_MARK = {True: "pass", False: "FAIL", None: ""}


@dataclass(frozen=True)
class Message:
    kind: str
    subject: str
    body: str


@dataclass(frozen=True)
class ApprovalLinks:
    approve_url: str
    reject_url: str
    expires_at: str


def _subject(stack: str, text: str) -> str:
    subject = "".join(
        char if " " <= char <= "~" else " " if char.isspace() or not char.isprintable() else "?"
        for char in f"[Challenger {stack}] {text}"
    )
    if len(subject) <= _SUBJECT_LIMIT:
        return subject
    return subject[: _SUBJECT_LIMIT - len(_ELLIPSIS)] + _ELLIPSIS


def interval(c: MetricComparison) -> str:
    """`+0.0310 [+0.0120, +0.0500]`: the paired difference with its confidence interval."""
    if c.delta is None:
        return "—"
    if c.low is None or c.high is None:
        return f"{c.delta:+.4f}"
    return f"{c.delta:+.4f} [{c.low:+.4f}, {c.high:+.4f}]"


def metric_table(comparisons: list[MetricComparison], champion_version: int | None, challenger_version: int) -> str:
    """Challenger vs champion on the same rows, one metric a row: the difference with its interval, the better
    direction, and the rule each metric was judged by."""
    champion_head = f"champion v{champion_version}" if champion_version is not None else "champion"
    rows = [("metric", champion_head, f"challenger v{challenger_version}", "delta [interval]", "better", "rule")]
    for c in comparisons:
        rows.append(
            (
                c.name,
                "—" if c.champion is None else f"{c.champion:.4f}",
                f"{c.challenger:.4f}",
                interval(c),
                c.direction,
                f"{c.role} {_MARK[c.passed]}".strip() if c.role != "info" else "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def comparison(
    *,
    stack: str,
    run_id: str,
    dataset: str,
    verdict: Verdict,
    approval_mode: str,
    links: ApprovalLinks | None = None,
    dashboard_url: str = "",
    cost: RunCost | None = None,
) -> Message:
    """The champion/challenger email: metrics side by side, the verdict, the run's cost so far, and approve/reject
    links if manual."""
    v = verdict.challenger_version
    if verdict.label_shift:
        kind = NotificationKind.APPROVAL_REQUEST if links is not None else NotificationKind.REJECTED
        headline = f"v{v} needs a person: the new labels disagree with the live model"
    elif not verdict.promote:
        kind, headline = NotificationKind.REJECTED, f"v{v} rejected: it does not beat the champion"
    elif links is not None:
        kind, headline = NotificationKind.APPROVAL_REQUEST, f"v{v} is ready: approve or reject"
    else:
        kind, headline = NotificationKind.COMPARISON, f"v{v} beats the champion: deploying ({approval_mode} mode)"
    body = [
        headline,
        "",
        f"Run:      {run_id}",
        f"Dataset:  {dataset}",
        f"Verdict:  {'PROMOTE' if verdict.promote else 'KEEP CHAMPION'} (decided by the {verdict.decided_by} rule)",
        f"Policy:   {_policy_name(verdict)}",
        "",
        *(
            [f"WARNING: {verdict.label_shift}. Not promoted automatically: a person decides.", ""]
            if verdict.label_shift
            else []
        ),
        _compared_on(verdict),
        "",
        "On the upload's hold-out:",
        metric_table(verdict.comparisons, verdict.champion_version, v),
        *_on_trusted(verdict),
        "",
        "Rules:",
        *[f"  - {reason}" for reason in verdict.reasons],
        *(["", f"Why not: {verdict.note}"] if verdict.note else []),
        *_shadow(verdict),
    ]
    if cost is not None:
        body += ["", f"Cost:     {summary(cost)}" + (" (so far: not the deployment)" if verdict.promote else "")]
    if links is not None:
        body += [
            "",
            f"Approve: {links.approve_url}",
            f"Reject:  {links.reject_url}",
            "",
            f"Each link opens a confirmation page, works once, and expires at {links.expires_at}.",
        ]
    if dashboard_url:
        body += ["", f"Dashboard: {dashboard_url}"]
    return Message(kind=kind.value, subject=_subject(stack, headline), body="\n".join(body) + "\n")


def _shadow(verdict: Verdict) -> list[str]:
    """The shadow stage (issue 23): what the challenger did on real requests before the swap, beside the champion."""
    measured = verdict.shadow
    if measured is None:
        return ["", f"Shadow stage: {verdict.shadow_note}"] if verdict.shadow_note else []
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(measured.shadow_errors_by_kind.items()))
    lines = [
        "",
        f"Shadow stage: {verdict.shadow_note}",
        f"  errors: challenger {measured.shadow_errors}/{measured.requests}{f' ({kinds})' if kinds else ''}, "
        f"champion {measured.champion_errors}/{measured.requests}",
    ]
    if measured.shadow_p99_ms is not None and measured.champion_p99_ms is not None:
        lines.append(
            f"  p99 latency: challenger {measured.shadow_p99_ms:.0f} ms, champion {measured.champion_p99_ms:.0f} ms "
            f"(same {measured.latency_pairs} requests)"
        )
    if measured.agreement is not None:
        lines.append(f"  agreement with the champion: {measured.agreed}/{measured.compared} ({measured.agreement:.1%})")
    return lines


def _policy_name(verdict: Verdict) -> str:
    if verdict.policy_version:
        return f"version {verdict.policy_version} of this dataset's promotion policy"
    return "the stack's parameters (no policy set for this dataset)"


def _on_trusted(verdict: Verdict) -> list[str]:
    """Both models on the dataset's trusted evaluation set (issue 19), or why there is none."""
    if verdict.champion_version is None:
        return []
    if not verdict.trusted_comparisons:
        return [
            "",
            "No trusted evaluation set for this dataset: set one with `challenger data push --test FILE --trusted`.",
        ]
    set_version = f" v{verdict.trusted_set_version}" if verdict.trusted_set_version else ""
    return [
        "",
        f"On the trusted evaluation set{set_version} ({verdict.trusted_rows} rows whose labels no upload can change):",
        metric_table(verdict.trusted_comparisons, verdict.champion_version, verdict.challenger_version),
    ]


def _compared_on(verdict: Verdict) -> str:
    if verdict.champion_version is None:
        return "No champion yet: the challenger's own hold-out metrics, and only the floor applies."
    if verdict.paired_rows is None:
        return f"No paired comparison with champion v{verdict.champion_version}: the challenger cannot be promoted."
    confidence = f"{verdict.confidence:.0%}" if verdict.confidence is not None else "the configured"
    return (
        f"Both models scored on the same {verdict.paired_rows} unseen rows; intervals are {confidence} paired "
        "bootstrap confidence intervals of challenger − champion."
    )


def deployed(
    *,
    stack: str,
    version: int,
    endpoint: str,
    reason: str,
    previous_version: int | None,
    cost: RunCost | None = None,
) -> Message:
    headline = f"v{version} is live on {endpoint}"
    body = [
        headline,
        "",
        f"Endpoint:  {endpoint} (InService, smoke test passed)",
        f"Reason:    {reason}",
        f"Replaced:  {'v' + str(previous_version) if previous_version is not None else 'nothing (first model)'}",
    ]
    if cost is not None:
        body.append(f"Run cost:  {summary(cost)}")
    return Message(kind=NotificationKind.DEPLOYED.value, subject=_subject(stack, headline), body="\n".join(body) + "\n")


def not_deployed(
    *, stack: str, version: int, endpoint: str, cause: str, serving_version: int | None, rolled_back: bool
) -> Message:
    """A deployment that did not go live: rolled back to the previous config, or failed before any swap."""
    headline = f"v{version} was NOT deployed" + (": rolled back" if rolled_back else "")
    serving = f"v{serving_version} keeps serving" if serving_version is not None else "no model is serving"
    body = [headline, "", f"Endpoint:  {endpoint}", f"Cause:     {cause}", f"Now:       {serving}"]
    kind = NotificationKind.ROLLED_BACK if rolled_back else NotificationKind.FAILED
    return Message(kind=kind.value, subject=_subject(stack, headline), body="\n".join(body) + "\n")


def failed(
    *, stack: str, run_id: str, dataset: str, cause: str, serving_version: int | None, cost: RunCost | None = None
) -> Message:
    headline = f"run {run_id} FAILED"
    serving = f"v{serving_version} keeps serving" if serving_version is not None else "no model is serving yet"
    body = [headline, "", f"Dataset:  {dataset}", f"Cause:    {cause}", f"Now:      {serving}"]
    if cost is not None:
        body.append(f"Cost:     {summary(cost)}")
    return Message(kind=NotificationKind.FAILED.value, subject=_subject(stack, headline), body="\n".join(body) + "\n")


def drift_alert(*, stack: str, report: DriftReport, action: str, dashboard_url: str = "") -> Message:
    """The champion's live inputs or predictions no longer look like its training data."""
    headline = f"drift on v{report.version}: PSI {report.score:.2f} above {report.threshold:.2f}"
    rows = [f"  {d.feature:<20} {d.statistic:<12} PSI {d.psi:.3f}" for d in report.worst]
    body = [
        headline,
        "",
        f"Checked:   {report.checked_at} on {report.samples} captured prediction(s)",
        "Drifted (Population Stability Index; < 0.1 stable, 0.1-0.25 moderate, > 0.25 major):",
        *rows,
        "",
        f"Action:    {action}",
    ]
    if report.skipped_lines or report.skipped_objects:
        body += [
            f"Skipped:   {report.skipped_lines} malformed capture line(s), "
            f"{report.skipped_objects} capture object(s) with no readable record"
        ]
    if dashboard_url:  # the dashboard's monitoring view: drift per feature, check by check (issue 22)
        body += ["", f"Dashboard: {dashboard_url.rstrip('/')}/#/monitoring"]
    return Message(kind=NotificationKind.DRIFT.value, subject=_subject(stack, headline), body="\n".join(body) + "\n")


def batch_done(*, stack: str, name: str, rows: int, output_uri: str, version: int) -> Message:
    headline = f"batch {name} scored by v{version}"
    body = [headline, "", f"Rows:     {rows}", f"Result:   {output_uri}", f"Model:    v{version}"]
    return Message(kind=NotificationKind.BATCH.value, subject=_subject(stack, headline), body="\n".join(body) + "\n")


def batch_failed(*, stack: str, key: str, cause: str) -> Message:
    headline = f"batch {key} FAILED"
    body = [headline, "", f"Cause:    {cause}", "Now:      the live endpoint was not involved and keeps serving"]
    return Message(kind=NotificationKind.FAILED.value, subject=_subject(stack, headline), body="\n".join(body) + "\n")
