//! Writes the seed example's images as OCI layouts:
//! `cargo run --example make_fixtures -- DIR [VARIANT]` (a variant gives other digests, as another
//! commit would). Prints `NAME DIGEST` per image.

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "build/images".to_string());
    let variant = std::env::args().nth(2);
    match dockhand::fixtures::seed_example_variant(std::path::Path::new(&dir), variant.as_deref()) {
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
