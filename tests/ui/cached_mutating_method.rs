use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct Store {
    items: Vec<String>,
}

#[distob::remote]
impl Store {
    #[distob(cached)]
    pub fn pop(&mut self) -> Option<String> {
        self.items.pop()
    }
}

fn main() {}
