//! One patient case in, one explained decision report out: TRD, staging, eligibility and dose,
//! each with its reasons, the rules version and the protocol SHA-256 (contracts/assess.md).
