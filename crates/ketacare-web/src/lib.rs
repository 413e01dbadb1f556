//! The HTTP JSON API of ketacare. (Being built: issue 5.)
