fn main() {
    std::process::exit(nslab::cli::main());
}
