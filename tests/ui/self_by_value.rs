use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct Store {
    items: Vec<String>,
}

#[distob::remote]
impl Store {
    pub fn into_items(self) -> Vec<String> {
        self.items
    }
}

fn main() {}
