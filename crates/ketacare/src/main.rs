//! The `ketacare` binary: command-line tools (and, later, the clinic server).

fn main() {
    println!("ketacare {}", env!("CARGO_PKG_VERSION"));
}
