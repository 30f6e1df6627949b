DROP INDEX activations_fingerprint;
DROP INDEX activations_seen;
