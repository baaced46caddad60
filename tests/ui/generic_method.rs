use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct Store {
    items: Vec<String>,
}

#[distob::remote]
impl Store {
    pub fn push<T: ToString>(&mut self, item: T) {
        self.items.push(item.to_string());
    }
}

fn main() {}
