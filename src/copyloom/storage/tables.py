"""The schema, as SQLAlchemy Core tables. Alembic migrations under `migrations/` must match it."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias), not a BIGINT one.
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

settings_table = sa.Table(
    "install_settings",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
)

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("tenant_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("pseudonym_key", sa.String(64), nullable=False),
    sa.Column("id_transform", sa.String(16), nullable=False, server_default="none"),
    sa.Column("bot_clicks", sa.String(16), nullable=False, server_default="flag_or_reason"),
    sa.Column("created_at", sa.Double(), nullable=False),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("tenant_id", sa.String(32), sa.ForeignKey("tenants.tenant_id"), nullable=False, index=True),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("revoked_at", sa.Double(), nullable=True),
    sa.Column("scope", sa.String(16), nullable=False, server_default="serving"),  # a TokenScope
)

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("experiment_id", sa.String(32), primary_key=True),
    sa.Column("tenant_id", sa.String(32), sa.ForeignKey("tenants.tenant_id"), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("metric", sa.String(16), nullable=False),
    sa.Column("recipient_field", sa.String(32), nullable=False),
    sa.Column("sticky", sa.String(16), nullable=False),
    sa.Column("floor", sa.Double(), nullable=False, server_default="0.01"),
    sa.Column("control_holdout", sa.Double(), nullable=False, server_default="0"),
    sa.Column("min_sends_per_variant", sa.Integer(), nullable=False, server_default="100"),
    # The `auto_retire` rule of a triggered experiment; NULL when it is off.
    sa.Column("auto_retire_p_best_below", sa.Double(), nullable=True),
    sa.Column("auto_retire_for_hours", sa.Double(), nullable=True),
    sa.Column("auto_retire_min_sends", sa.Integer(), nullable=True),
    # The guardrail rule as JSON; "off" when the definition turns them off; NULL: the defaults.
    sa.Column("guardrails_json", sa.Text(), nullable=True),
    # The declared context fields as JSON (`domain.values.ContextField`); NULL: not segmented.
    sa.Column("context_json", sa.Text(), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("winner", sa.String(64), nullable=True),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("updated_at", sa.Double(), nullable=False),
)

experiment_cta_links = sa.Table(
    "experiment_cta_links",
    metadata,
    sa.Column("experiment_id", sa.String(32), sa.ForeignKey("experiments.experiment_id"), primary_key=True),
    sa.Column("link_alias", sa.String(256), primary_key=True),
)

experiment_sources = sa.Table(
    "experiment_sources",
    metadata,
    sa.Column("experiment_id", sa.String(32), sa.ForeignKey("experiments.experiment_id"), primary_key=True),
    sa.Column("source_id", sa.String(128), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # campaign | canvas_step
)

variants = sa.Table(
    "variants",
    metadata,
    sa.Column("experiment_id", sa.String(32), sa.ForeignKey("experiments.experiment_id"), primary_key=True),
    sa.Column("variant_id", sa.String(64), primary_key=True),
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Column("is_control", sa.Boolean(), nullable=False),
    sa.Column("texts_json", sa.Text(), nullable=False),
    sa.Column("added_at", sa.Double(), nullable=True),  # NULL: one of the variants it was created with
    sa.Column("retired_at", sa.Double(), nullable=True),  # NULL while it gets new recipients
    sa.Column("retired_by", sa.String(16), nullable=True),  # manual | auto
)

assignments = sa.Table(
    "assignments",
    metadata,
    sa.Column("assignment_id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.String(32), nullable=False),
    sa.Column("experiment_id", sa.String(32), sa.ForeignKey("experiments.experiment_id"), nullable=False),
    sa.Column("recipient_key", sa.String(64), nullable=False),
    sa.Column("dispatch_id", sa.String(128), nullable=False),
    sa.Column("variant_id", sa.String(64), nullable=False),
    sa.Column("assigned_at", sa.Double(), nullable=False),
    sa.Column("cohort_s", sa.BigInteger(), nullable=False),
    # The Braze campaign or Canvas step the content call came from ("" when it named none).
    sa.Column("source_id", sa.String(128), nullable=False, server_default=""),
    # The recipient's segment (declared category or bucket names only, never a raw value); "" unsegmented.
    sa.Column("segment", sa.String(255), nullable=False, server_default=""),
    # The probability the stored variant was chosen with: its weight in the segment's allocation in force.
    sa.Column("propensity", sa.Double(), nullable=True),
    sa.UniqueConstraint("experiment_id", "recipient_key", "dispatch_id", name="uq_assignments_send"),
    # Covers the ingest's attribution join: by recipient and dispatch, to the tenant and experiment.
    sa.Index("ix_assignments_attribution", "recipient_key", "dispatch_id", "tenant_id", "experiment_id"),
)

engagements = sa.Table(
    "engagements",
    metadata,
    sa.Column("assignment_id", _BigId, sa.ForeignKey("assignments.assignment_id"), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("occurred_at", sa.Double(), nullable=False),
)

seen_events = sa.Table(
    "seen_events",
    metadata,
    sa.Column("tenant_id", sa.String(32), primary_key=True),
    sa.Column("event_id", sa.String(128), primary_key=True),
    sa.Column("seen_at", sa.Double(), nullable=False),
    sqlite_with_rowid=False,  # the key is the table: one B-tree insert per event id
)

unattributed = sa.Table(
    "unattributed_events",
    metadata,
    sa.Column("tenant_id", sa.String(32), primary_key=True),
    sa.Column("source_id", sa.String(128), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("count", sa.BigInteger(), nullable=False),
)

other_source_events = sa.Table(
    "other_source_events",
    metadata,
    sa.Column("experiment_id", sa.String(32), sa.ForeignKey("experiments.experiment_id"), primary_key=True),
    sa.Column("source_id", sa.String(128), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("count", sa.BigInteger(), nullable=False),
)
"""Events that matched an assignment's recipient and dispatch but came from a campaign or Canvas step the
experiment does not name: counted apart, never attributed."""

guardrail_breaches = sa.Table(
    "guardrail_breaches",
    metadata,
    sa.Column("experiment_id", sa.String(32), sa.ForeignKey("experiments.experiment_id"), primary_key=True),
    sa.Column("variant_id", sa.String(64), primary_key=True),
    sa.Column("metric", sa.String(16), primary_key=True),
    sa.Column("detected_at", sa.Double(), nullable=False),
    sa.Column("variant_sends", sa.BigInteger(), nullable=False),
    sa.Column("variant_events", sa.BigInteger(), nullable=False),
    sa.Column("control_sends", sa.BigInteger(), nullable=False),
    sa.Column("control_events", sa.BigInteger(), nullable=False),
    sa.Column("probability", sa.Double(), nullable=False),
    sa.Column("margin", sa.Double(), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
)
"""Each guardrail breach, with the figures it was found on: a breached variant stays held from then on."""

allocations = sa.Table(
    "allocations",
    metadata,
    sa.Column("allocation_id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("experiment_id", sa.String(32), sa.ForeignKey("experiments.experiment_id"), nullable=False),
    sa.Column("computed_at", sa.Double(), nullable=False),
    sa.Column("weights_json", sa.Text(), nullable=False),
    sa.Column("p_best_json", sa.Text(), nullable=False),
    sa.Column("winner", sa.String(64), nullable=True),
    sa.Column("reason", sa.String(64), nullable=False),
    sa.Column("health_json", sa.Text(), nullable=True),  # the health checks of this look (services/health.py)
    sa.Column("segments_json", sa.Text(), nullable=True),  # per segment: weights, P(best), winner; NULL: none
    sa.Index("ix_allocations_experiment_time", "experiment_id", "computed_at"),
)

event_sources = sa.Table(
    "event_sources",
    metadata,
    sa.Column("tenant_id", sa.String(32), sa.ForeignKey("tenants.tenant_id"), primary_key=True),
    sa.Column("uri", sa.String(1024), nullable=False),
    sa.Column("credentials_ref", sa.String(128), nullable=True),
    sa.Column("updated_at", sa.Double(), nullable=False),
)

ingested_files = sa.Table(
    "ingested_files",
    metadata,
    sa.Column("tenant_id", sa.String(32), primary_key=True),
    sa.Column("source_uri", sa.String(1024), primary_key=True),
    sa.Column("object_key", sa.String(1024), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("size_bytes", sa.BigInteger(), nullable=False),
    sa.Column("events", sa.BigInteger(), nullable=False),
    sa.Column("accepted", sa.BigInteger(), nullable=False),
    sa.Column("duplicates", sa.BigInteger(), nullable=False),
    sa.Column("ignored", sa.BigInteger(), nullable=False),
    sa.Column("unattributed", sa.BigInteger(), nullable=False),
    sa.Column("newest_event_s", sa.BigInteger(), nullable=True),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("finished_at", sa.Double(), nullable=False),
)

dashboard_credentials = sa.Table(
    "dashboard_credentials",
    metadata,
    sa.Column("tenant_id", sa.String(32), sa.ForeignKey("tenants.tenant_id"), primary_key=True),
    sa.Column("scheme", sa.String(64), nullable=False),
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("password_hash", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
)

dashboard_sessions = sa.Table(
    "dashboard_sessions",
    metadata,
    sa.Column("session_hash", sa.String(64), primary_key=True),
    sa.Column("tenant_id", sa.String(32), sa.ForeignKey("tenants.tenant_id"), nullable=False, index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("expires_at", sa.Double(), nullable=False),
)

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("webhook_id", sa.String(32), primary_key=True),
    sa.Column("tenant_id", sa.String(32), sa.ForeignKey("tenants.tenant_id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("url", sa.String(2048), nullable=False),
    # The Standard Webhooks signing secret (`whsec_…`): HMAC needs it in clear to sign.
    sa.Column("secret", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("disabled_at", sa.Double(), nullable=True),  # NULL while it receives alerts
    # A name is unique among the tenant's webhooks that are not removed.
    sa.Index(
        "ix_webhooks_active_name",
        "tenant_id",
        "name",
        unique=True,
        sqlite_where=sa.text("disabled_at IS NULL"),
        postgresql_where=sa.text("disabled_at IS NULL"),
    ),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("delivery_id", _BigId, primary_key=True, autoincrement=True),
    # The Standard Webhooks `webhook-id`: one per event, the same on every retry.
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("webhook_id", sa.String(32), sa.ForeignKey("webhooks.webhook_id"), nullable=False),
    sa.Column("tenant_id", sa.String(32), nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("payload_json", sa.Text(), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | delivered | failed
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.Double(), nullable=True),  # NULL once delivered or given up
    sa.Column("last_status_code", sa.Integer(), nullable=True),
    sa.Column("last_error", sa.String(300), nullable=True),
    sa.Column("delivered_at", sa.Double(), nullable=True),
    sa.UniqueConstraint("event_id", "webhook_id", name="uq_webhook_deliveries_event"),
    sa.Index("ix_webhook_deliveries_due", "next_attempt_at"),
    sa.Index("ix_webhook_deliveries_tenant_time", "tenant_id", "created_at"),
)

webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("delivery_id", _BigId, sa.ForeignKey("webhook_deliveries.delivery_id"), primary_key=True),
    sa.Column("attempt", sa.Integer(), primary_key=True),
    sa.Column("attempted_at", sa.Double(), nullable=False),
    sa.Column("duration_ms", sa.Double(), nullable=False),
    sa.Column("status_code", sa.Integer(), nullable=True),  # NULL: no answer (refused, timed out)
    sa.Column("error", sa.String(300), nullable=True),
)

experiment_alerts = sa.Table(
    "experiment_alerts",
    metadata,
    sa.Column("experiment_id", sa.String(32), sa.ForeignKey("experiments.experiment_id"), primary_key=True),
    sa.Column("event_type", sa.String(64), primary_key=True),
    sa.Column("subject", sa.String(64), primary_key=True),
    sa.Column("alerted_at", sa.Double(), nullable=False),
)
"""What was alerted for an experiment (e.g. its winner), so that a learner pass that finds the same state
again does not alert again."""
