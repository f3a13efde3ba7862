//! `punktfunk-host`: the streaming host's binary; everything it does is in the library.

fn main() -> anyhow::Result<()> {
    punktfunk_host::app::cli::main()
}
