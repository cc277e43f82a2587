-- Conversations, stored answers and feedback on them. Every row carries its tenant; composite
-- foreign keys make an answer in another tenant's conversation, or feedback on another
-- tenant's answer, impossible whatever writes the row.
CREATE TABLE conversations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    title       text CHECK (length(title) <= 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);

-- Every answer given, kept (also after its documents are gone) so feedback and satisfaction can
-- be measured against what was actually shown: the question, its resolved form, the text, and
-- the sentences with their citations and verdicts as returned (JSON).
CREATE TABLE answers (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id          uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    conversation_id    uuid,
    turn               integer,  -- 1, 2, ... within its conversation
    question           text NOT NULL,
    resolved_question  text NOT NULL,
    answer             text NOT NULL,
    answered           boolean NOT NULL,
    reason             text,
    generator          text NOT NULL,
    collections        text[] NOT NULL DEFAULT '{}',
    sentences          jsonb NOT NULL DEFAULT '[]',
    created_at         timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations(tenant_id, id) ON DELETE CASCADE,
    UNIQUE (tenant_id, id),
    UNIQUE (conversation_id, turn),
    CHECK ((conversation_id IS NULL) = (turn IS NULL))
);

CREATE INDEX answers_tenant_idx ON answers (tenant_id, created_at);

-- One rating per answer and API key: rating again replaces it.
CREATE TABLE feedback (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    answer_id   uuid NOT NULL,
    key_id      uuid NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    rating      text NOT NULL CHECK (rating IN ('up', 'down')),
    comment     text CHECK (length(comment) <= 4000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, answer_id) REFERENCES answers(tenant_id, id) ON DELETE CASCADE,
    UNIQUE (answer_id, key_id)
);

CREATE INDEX feedback_tenant_idx ON feedback (tenant_id, rating);
