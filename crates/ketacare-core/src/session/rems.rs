//! The SPRAVATO REMS Patient Monitoring Form (KNOWLEDGE §4.1, §4.2).
