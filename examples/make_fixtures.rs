//! Writes the seed example's images as OCI layouts: `cargo run --example make_fixtures -- DIR`.
//! Prints `NAME DIGEST` per image.

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "build/images".to_string());
    match dockhand::fixtures::seed_example(std::path::Path::new(&dir)) {
        Ok(images) => {
            for (name, digest) in images {
                println!("{name} {digest}");
            }
        }
        Err(e) => {
            eprintln!("error: cannot write fixtures into {dir}: {e}");
            std::process::exit(1);
        }
    }
}
