-- One record per real customer: a merge makes one record the golden record and keeps the other
-- as a source record behind it (merged_into), unchanged, with what was moved and what the golden
-- record's fields were before, so that the merge can be undone.
ALTER TABLE customers ADD COLUMN merged_into bigint REFERENCES customers (id);
CREATE INDEX customers_merged_into ON customers (merged_into) WHERE merged_into IS NOT NULL;

CREATE TABLE customer_merges (
    id             bigserial PRIMARY KEY,
    golden_id      bigint NOT NULL REFERENCES customers (id),
    source_id      bigint NOT NULL REFERENCES customers (id),
    merged_at      timestamptz NOT NULL DEFAULT now(),
    merged_by      text NOT NULL,
    reasons        text[] NOT NULL,
    golden_before  jsonb NOT NULL,  -- the golden record's fields the merge changed, as they were
    golden_after   jsonb NOT NULL,  -- ... and as the merge set them
    moved          jsonb NOT NULL,  -- {"vehicles": [ids], "consents": [ids], "household_members": [ids], ...}
    unmerged_at    timestamptz,
    unmerged_by    text,
    CHECK (golden_id <> source_id)
);
CREATE UNIQUE INDEX customer_merges_active ON customer_merges (source_id) WHERE unmerged_at IS NULL;
CREATE INDEX customer_merges_golden ON customer_merges (golden_id);
