fn main() {
    for path in std::env::args().skip(1) {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let (objs, findings) =
            berth_stack::parse_manifest_str(std::path::Path::new(&path), &text, "c");
        println!("{path}: {} objects", objs.len());
        for f in findings {
            println!(
                "  {}:{}:{} {} {}",
                f.file.display(),
                f.line,
                f.column,
                f.rule,
                f.message
            );
        }
    }
}
