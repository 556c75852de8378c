"""The analysts' dashboard: evidence freshness, drift flags, incident notifications and maturity
per tenant (spec §5.3: monitoring dashboards must be tenant-filterable).

It reads only the analytics snapshot (``<home>/analytics/*.parquet``, published by the
``analytics_snapshot`` asset), never the live warehouse file (DESIGN principle 7), and needs no
network: Streamlit serves its own assets and Altair charts render in the page. Run with
``make dashboard``; ``TENANTPROOF_HOME`` (default ``./data``) names the home.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from tenantproof.analytics.snapshot import (
    flags_for,
    freshness_matrix,
    in_window,
    matrix_html,
    natural_key,
    read_meta,
    read_table,
    trend,
)
from tenantproof.core.drift_text import flag_sentence
from tenantproof.core.settings import Settings

TABLES = (
    "evidence_freshness",
    "evidence_freshness_history",
    "drift_flags",
    "tenant_maturity",
    "incident_notifications",
    "tenants",
)
STATUS_COLOURS = {"fresh": "#3f9142", "stale": "#e8a317", "missing": "#c92a2a"}


@st.cache_data(show_spinner=False)
def load(analytics: str, generated_at: str) -> dict[str, pd.DataFrame]:
    """Every snapshot table; cached per snapshot (a new one has a new generated_at)."""
    return {name: read_table(Path(analytics), name) for name in TABLES}


def main() -> None:
    st.set_page_config(page_title="tenantproof: evidence freshness and drift", layout="wide")
    analytics = Settings.from_environment().home.analytics
    meta = read_meta(analytics)
    st.title("Evidence freshness and drift")
    if meta is None:
        st.warning(f"No analytics snapshot under {analytics}: run `tenantproof build` first.")
        st.stop()
    data = load(str(analytics), meta["generated_at"])
    as_of = dt.datetime.fromisoformat(meta["as_of"])
    st.caption(
        f"As of {as_of:%Y-%m-%d %H:%M} UTC; snapshot published {meta['generated_at']} UTC "
        f"from {analytics}"
    )

    tenants = data["tenants"]
    labels = dict(zip(tenants["tenant_id"], tenants["tenant_name"], strict=True))
    ordered = sorted(tenants["tenant_id"], key=natural_key)
    chosen = st.sidebar.multiselect(
        "Tenants (none chosen: all)",
        options=ordered,
        format_func=lambda t: f"{t} - {labels.get(t, '')}",
    )
    selected = sorted(chosen, key=natural_key) or ordered
    history = data["evidence_freshness_history"]
    first_day = pd.to_datetime(history["snapshot_date"]).min().date()
    window = st.sidebar.date_input(
        "Time window",
        value=(max(first_day, as_of.date() - dt.timedelta(days=30)), as_of.date()),
        min_value=first_day,
        max_value=as_of.date(),
    )
    start, end = (window[0], window[-1]) if isinstance(window, tuple) else (window, window)
    only_new = st.sidebar.checkbox(
        "Only flags detected in the window",
        help="Otherwise every flag still open as of the snapshot that began by the window's end.",
    )
    start_at = dt.datetime.combine(start, dt.time.min)
    end_at = min(dt.datetime.combine(end, dt.time.max), as_of)

    # The matrix shows the status at the end of the window (the as-of status by default).
    at_end = history[pd.to_datetime(history["snapshot_date"]).dt.date == end]
    current = data["evidence_freshness"]
    flags = in_window(
        flags_for(data["drift_flags"], selected),
        "detected_at",
        start_at if only_new else dt.datetime.min,
        end_at,
    )
    counts = at_end[at_end["tenant_id"].isin(selected)]["status"].value_counts()
    cols = st.columns(5)
    cols[0].metric("Tenants", len(selected))
    for col, status in zip(cols[1:4], ("fresh", "stale", "missing"), strict=True):
        col.metric(f"Controls {status}", int(counts.get(status, 0)))
    cols[4].metric("Drift flags", len(flags))

    st.subheader(f"Freshness matrix (controls x tenants) at the end of {end:%Y-%m-%d}")
    st.markdown(matrix_html(freshness_matrix(at_end, selected)), unsafe_allow_html=True)

    st.subheader("Per tenant")
    tenant = st.selectbox(
        "Tenant", selected, format_func=lambda t: f"{t} - {labels.get(t, '')}", key="detail"
    )
    detail = at_end[at_end["tenant_id"] == tenant].merge(
        current[current["tenant_id"] == tenant][
            ["control_id", "title", "last_evidence_origin", "last_evidence_service_id"]
        ],
        on="control_id",
        how="left",
    )
    st.table(
        detail[
            [
                "control_id",
                "title",
                "status",
                "last_evidence_at",
                "age_days",
                "freshness_sla_days",
                "last_evidence_origin",
                "last_evidence_service_id",
            ]
        ]
        .sort_values("control_id")
        .round({"age_days": 1})
        .reset_index(drop=True)
    )

    st.subheader("Drift flags")
    if flags.empty:
        st.info("No open drift flag for these tenants in this window.")
    else:
        shown = flags.assign(
            attributed_to=flags["tenant_id"].fillna("global: " + flags["global_scope"]),
            affected_tenants=flags["affected_tenants"].map(", ".join),
            evidence=[flag_sentence(r) for r in flags.to_dict("records")],
        )
        st.table(
            shown[
                [
                    "detected_at",
                    "kind",
                    "severity",
                    "attributed_to",
                    "affected_tenants",
                    "affected_total",
                    "subject",
                    "evidence",
                ]
            ]
            .sort_values("detected_at", ascending=False)
            .reset_index(drop=True)
        )

    st.subheader("Maturity (spec §9)")
    maturity = data["tenant_maturity"]
    st.table(
        maturity[maturity["tenant_id"].isin(selected)][
            ["tenant_id", "maturity_level", "level_1_gaps", "level_2_gaps", "level_3_gaps"]
        ].reset_index(drop=True)
    )

    st.subheader("Trend: tenant x control pairs by status")
    days = trend(history, selected)
    days = days[(days["snapshot_date"].dt.date >= start) & (days["snapshot_date"].dt.date <= end)]
    chart = (
        alt.Chart(days)
        .mark_line(point=True)
        .encode(
            x=alt.X("snapshot_date:T", title="day (UTC)"),
            y=alt.Y("controls:Q", title="pairs"),
            color=alt.Color(
                "status:N",
                scale=alt.Scale(domain=list(STATUS_COLOURS), range=list(STATUS_COLOURS.values())),
            ),
        )
    )
    st.altair_chart(chart, width="stretch")

    st.subheader("Incident notifications")
    incidents = data["incident_notifications"]
    incidents = in_window(
        incidents[incidents["tenant_id"].isin(selected)], "detected_at", start_at, end_at
    )
    st.table(
        incidents[
            [
                "incident_id",
                "tenant_id",
                "severity",
                "detected_at",
                "notify_by",
                "notified_at",
                "notification_status",
            ]
        ].reset_index(drop=True)
    )


main()
