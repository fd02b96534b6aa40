-- The region of a stack's one image repository (R3a/R3b): chosen when the
-- stack is created (its first stage's region) and kept for the stack's life.
-- Stacks made before this column existed read NULL; the store then takes the
-- region of their first stage, where their images were pushed.
ALTER TABLE stacks ADD COLUMN home_region TEXT;
