fn main() {
    println!("leadrouter");
}
