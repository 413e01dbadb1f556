//! Use cases of ketacare: load, decide with the core, write with the store, audit. (Being built: issue 5.)
