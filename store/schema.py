"""The tables (SQLAlchemy Core), portable between PostgreSQL and SQLite.

migrations/versions/ creates them; keep the two in step."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Timestamp = sa.DateTime(timezone=True)

blocs = sa.Table(
    "blocs",
    metadata,
    sa.Column("code", sa.String(24), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("head_ministry", sa.String(24), nullable=False),
)

ministries = sa.Table(
    "ministries",
    metadata,
    sa.Column("code", sa.String(24), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("bloc_code", sa.String(24), nullable=True),
)

actors = sa.Table(
    "actors",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("full_name", sa.Text, nullable=False),
    sa.Column("email", sa.Text, nullable=True),
    sa.Column("organisation", sa.String(24), nullable=False),
)

actor_roles = sa.Table(
    "actor_roles",
    metadata,
    sa.Column("actor_id", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(32), primary_key=True),
    sa.Column("scope", sa.String(24), primary_key=True),
)

# One row (id 1), bumped in the same transaction as every roster load (store/roster.py).
roster_revision = sa.Table(
    "roster_revision",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Column("changed_at", Timestamp, nullable=True),
)

# One person, one nomination per award form and year (migration 0006): a nomination claims its nominee's
# identity key at registration; the primary key refuses a second holder. Released when it ends withdrawn.
nominee_identity = sa.Table(
    "nominee_identity",
    metadata,
    sa.Column("identity_key", sa.String(80), primary_key=True),
    sa.Column("award_form", sa.String(24), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("workflow_id", sa.String(200), nullable=False),
    sa.Column("claimed_at", Timestamp, nullable=False),
    sa.Index("ix_nominee_identity_workflow_id", "workflow_id"),
)

nominations = sa.Table(
    "nominations",
    metadata,
    sa.Column("workflow_id", sa.String(200), primary_key=True),
    sa.Column("reference", sa.String(48), nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("ministry", sa.String(24), nullable=False),
    sa.Column("bloc", sa.String(24), nullable=True),
    # The bloc whose own proposal (suy tôn) it is; NULL for a unit's proposal. Its people read it.
    sa.Column("origin_bloc", sa.String(24), nullable=True),
    sa.Column("award_form", sa.String(24), nullable=False),
    sa.Column("nominee_kind", sa.String(16), nullable=False),
    sa.Column("nominee_name", sa.Text, nullable=False),
    sa.Column("proposing_unit", sa.Text, nullable=False),
    sa.Column("proposer", sa.String(64), nullable=False),
    sa.Column("policy_version", sa.String(32), nullable=False),
    sa.Column("stage", sa.String(32), nullable=False),
    sa.Column("stage_label_vi", sa.Text, nullable=False),
    sa.Column("status_vi", sa.Text, nullable=False),
    sa.Column("returned_from", sa.String(32), nullable=True),
    sa.Column("decision_no", sa.Text, nullable=True),
    sa.Column("decided_by", sa.Text, nullable=True),
    sa.Column("last_seq", sa.Integer, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.UniqueConstraint("year", "ministry", "reference", name="uq_nominations_business_key"),
    sa.Index("ix_nominations_stage", "stage"),
    sa.Index("ix_nominations_ministry", "ministry"),
)

stage_events = sa.Table(
    "stage_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("workflow_id", sa.String(200), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("action", sa.String(48), nullable=False),
    sa.Column("actor", sa.String(64), nullable=True),
    sa.Column("from_stage", sa.String(32), nullable=True),
    sa.Column("to_stage", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("tally", sa.JSON, nullable=True),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Column("occurred_at", Timestamp, nullable=False),
    sa.Column("recorded_at", Timestamp, nullable=False),
    sa.UniqueConstraint("workflow_id", "seq", name="uq_stage_events_workflow_seq"),
)

NOTIFICATION_PENDING = "PENDING"
NOTIFICATION_SENT = "SENT"
NOTIFICATION_FAILED = "FAILED"

notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("workflow_id", sa.String(200), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("party", sa.String(120), nullable=False),
    sa.Column("recipients", sa.JSON, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("sent_at", Timestamp, nullable=True),
    sa.UniqueConstraint("workflow_id", "seq", "party", name="uq_notifications_workflow_seq_party"),
    sa.Index("ix_notifications_status_id", "status", "id"),
)

# ---- ballot sessions (bỏ phiếu kín) -----------------------------------------------------------------
# Who voted and the per-candidate counts; never what anyone voted. No column here holds a choice.

ballot_sessions = sa.Table(
    "ballot_sessions",
    metadata,
    sa.Column("session_id", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("scope", sa.String(24), nullable=False),
    sa.Column("meeting_ref", sa.String(48), nullable=False),
    sa.Column("phase", sa.String(16), nullable=False),
    sa.Column("opened_by", sa.String(64), nullable=False),
    sa.Column("deadline", Timestamp, nullable=False),
    sa.Column("policy_version", sa.String(32), nullable=False),
    sa.Column("candidates", sa.Integer, nullable=False),
    sa.Column("electorate_size", sa.Integer, nullable=False),
    sa.Column("voted", sa.Integer, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Index("ix_ballot_sessions_kind_scope_phase", "kind", "scope", "phase"),
)

# The ballot paper of each round, as the session published it when the round's voting opened (republished when a
# candidate is struck): the list, the public keys, and each voter's conflict class. Public within the session; a
# voter's client reads it here instead of asking the session, whose query buffer a meeting voting at once fills.
ballot_papers = sa.Table(
    "ballot_papers",
    metadata,
    sa.Column("session_id", sa.String(200), primary_key=True),
    sa.Column("round", sa.Integer, primary_key=True),
    sa.Column("status", sa.JSON, nullable=False),
    sa.Column("classes", sa.JSON, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

ballot_participation = sa.Table(
    "ballot_participation",
    metadata,
    sa.Column("session_id", sa.String(200), primary_key=True),
    sa.Column("round", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("voter_id", sa.String(64), primary_key=True),
    sa.Column("voted_at", Timestamp, nullable=False),  # when they took the round's ballot credential
)

ballot_minutes = sa.Table(
    "ballot_minutes",
    metadata,
    sa.Column("session_id", sa.String(200), primary_key=True),
    sa.Column("round", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("workflow_id", sa.String(200), primary_key=True),
    sa.Column("members", sa.Integer, nullable=False),
    sa.Column("present", sa.Integer, nullable=False),
    sa.Column("votes_for", sa.Integer, nullable=False),
    sa.Column("votes_against", sa.Integer, nullable=False),
    sa.Column("abstaining", sa.Integer, nullable=False),
    sa.Column("result", sa.String(24), nullable=False),  # PASSED, FAILED, NO_QUORUM or WITHDRAWN_FROM_LIST
    sa.Column("reason_vi", sa.Text, nullable=False),
    sa.Column("policy_version", sa.String(32), nullable=False),
    sa.Column("closed_at", Timestamp, nullable=False),
    sa.Column("spoiled", sa.Integer, nullable=False),
    sa.Column("ballots_cast", sa.Integer, nullable=False, server_default="0"),  # anonymous ballots received
)

# Which open session's list holds each nomination: at most one (the primary key is the guarantee). A session
# claims a nomination when it joins the list, and lets go when the nomination leaves it and when the session
# closes or is cancelled.
ballot_list_members = sa.Table(
    "ballot_list_members",
    metadata,
    sa.Column("workflow_id", sa.String(200), primary_key=True),
    sa.Column("session_id", sa.String(200), nullable=False),
    sa.Column("joined_at", Timestamp, nullable=False),
    sa.Index("ix_ballot_list_members_session_id", "session_id"),
)

# ---- the counting committee (Ban kiểm phiếu) and a session's keys ------------------------------------------
# A member's counting key: the public half of the RSA-OAEP key whose private half only the member holds (a
# file for the CLI, a non-extractable key in the browser). Their share of each session's key is encrypted to it.
counting_keys = sa.Table(
    "counting_keys",
    metadata,
    sa.Column("actor_id", sa.String(64), primary_key=True),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("public_pem", sa.Text, nullable=False),
    sa.Column("enrolled_at", Timestamp, nullable=False),
)

# A session's keys while it runs: the public halves (`public_keys`, SessionKeys as JSON), the sealing key's
# private half wrapped under the key the committee holds in shares, and the credential signing keys' private
# halves encrypted under the deployment's codec key (`codec_key_id`), so the database alone signs nothing.
# When the session ends every secret column is emptied and `destroyed_at` set.
ballot_session_secrets = sa.Table(
    "ballot_session_secrets",
    metadata,
    sa.Column("session_id", sa.String(200), primary_key=True),
    sa.Column("public_keys", sa.JSON, nullable=False),
    sa.Column("wrapped_sealing_key", sa.LargeBinary, nullable=True),
    sa.Column("issuer_private", sa.LargeBinary, nullable=True),
    sa.Column("class_privates", sa.JSON, nullable=True),  # class id -> base64 of the encrypted PKCS8 DER
    sa.Column("codec_key_id", sa.String(64), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("destroyed_at", Timestamp, nullable=True),
)

# Each member's share of a session's wrapping key, encrypted to their counting key; deleted when it ends.
counting_shares = sa.Table(
    "counting_shares",
    metadata,
    sa.Column("session_id", sa.String(200), primary_key=True),
    sa.Column("member_id", sa.String(64), primary_key=True),
    sa.Column("idx", sa.Integer, nullable=False),
    sa.Column("member_key_id", sa.String(64), nullable=False),
    sa.Column("encrypted_share", sa.Text, nullable=False),
)

# ---- decisions (quyết định khen thưởng) -------------------------------------------------------------
# One row per decision number, one per nomination it named (accepted or refused, in list order), and
# `awarded_by`: a nomination is accepted on at most one decision (its primary key is the guarantee).

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("decision_no", sa.String(64), primary_key=True),
    sa.Column("decision_date", sa.Date, nullable=False),
    sa.Column("authority", sa.String(24), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("workflow_id", sa.String(200), nullable=False),
    sa.Column("accepted", sa.Integer, nullable=False),
    sa.Column("refused", sa.Integer, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

decision_items = sa.Table(
    "decision_items",
    metadata,
    sa.Column("decision_no", sa.String(64), primary_key=True),
    sa.Column("workflow_id", sa.String(200), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("accepted", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("nominee_name", sa.Text, nullable=True),
    sa.Column("award_name_vi", sa.Text, nullable=True),
    sa.Column("ministry", sa.String(24), nullable=True),
    sa.Column("recorded_at", Timestamp, nullable=False),
    sa.Index("ix_decision_items_workflow_id", "workflow_id"),
)

awarded_by = sa.Table(
    "awarded_by",
    metadata,
    sa.Column("workflow_id", sa.String(200), primary_key=True),
    sa.Column("decision_no", sa.String(64), nullable=False),
)

# ---- the audit log (tamper-evident, append-only) -----------------------------------------------------
# One global hash chain in `id` order: each row's `hash` is HMAC-SHA256 under the key `key_id` names (a key
# the database does not hold, security/audit_keys.py) of prev_hash + canonical JSON of `entry`; key_id NULL: a
# legacy sha256 entry from before 0008. `prev_hash` is the hash of the row before it (64 zeros for the first).
# store/audit.py appends and verifies. The columns repeat the entry's fields for querying; verification
# checks they still agree.

AUDIT_CHANNELS = ("CLI", "API", "SYSTEM")

audit_log = sa.Table(
    "audit_log",
    metadata,
    # BIGINT on PostgreSQL; INTEGER on SQLite, where only an INTEGER PRIMARY KEY autoincrements.
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("recorded_at", Timestamp, nullable=False),
    sa.Column("workflow_id", sa.String(200), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("actor", sa.String(64), nullable=True),
    sa.Column("channel", sa.String(8), nullable=False),
    sa.Column("action", sa.String(48), nullable=False),
    sa.Column("from_stage", sa.String(32), nullable=True),
    sa.Column("to_stage", sa.String(32), nullable=True),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("entry", sa.JSON, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("key_id", sa.String(64), nullable=True),
    sa.UniqueConstraint("workflow_id", "seq", "action", name="uq_audit_log_workflow_seq_action"),
)

# ---- revoked tokens ----------------------------------------------------------------------------------
# A signed token whose id (`jti`) is listed here is refused by the CLI, the API and the inbox
# (client/revocation.py). A row is needed only until `expires_at` (the token's own expiry): pruned after.

revoked_tokens = sa.Table(
    "revoked_tokens",
    metadata,
    sa.Column("jti", sa.String(64), primary_key=True),
    sa.Column("actor_id", sa.String(64), nullable=True),  # NULL: an operator revoked it by id alone
    sa.Column("revoked_by", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("revoked_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Index("ix_revoked_tokens_expires_at", "expires_at"),
)

# ---- idempotency keys --------------------------------------------------------------------------------
# The API's answer to a request sent with an `Idempotency-Key` (api/idempotency.py, store/idempotency.py),
# per (actor, key), replayed to a retry of the same request until `expires_at`; pruned after.

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("actor", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.String(80), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("headers", sa.JSON, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Index("ix_idempotency_keys_expires_at", "expires_at"),
)

# ---- one-time sign-in links ----------------------------------------------------------------------------
# The inbox's sign-in links (store/sign_in.py): the secret's SHA-256 only, the actor it signs in, its expiry and
# when it was used (a link signs in once).

sign_in_links = sa.Table(
    "sign_in_links",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("actor_id", sa.String(64), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Column("used_at", Timestamp, nullable=True),
    sa.Index("ix_sign_in_links_actor_id", "actor_id", "created_at"),
    sa.Index("ix_sign_in_links_expires_at", "expires_at"),
)
