//! Browser entry point: mounts the app. Built by Trunk (see index.html).

fn main() {
    weft_web::log_panics();
    leptos::mount::mount_to_body(weft_web::App);
}
