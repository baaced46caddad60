use serde::{Deserialize, Serialize};

pub struct Handle(std::fs::File);

#[derive(Serialize, Deserialize)]
pub struct Store {
    items: Vec<String>,
}

#[distob::remote]
impl Store {
    pub fn write_to(&self, out: Handle) -> usize {
        drop(out);
        self.items.len()
    }
}

fn main() {}
