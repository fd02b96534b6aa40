-- R22: a stack shared with a team records where its shared state lives
-- (bucket, prefix, region) as JSON. Stacks made before, and solo stacks,
-- read NULL: they are run by this desktop alone.
ALTER TABLE stacks ADD COLUMN team TEXT;
