//! The method set both array kinds share, declared once: each table below
//! lists the methods, and each kind expands it into its own (the
//! `RemoteArray` computes on its engine; the `DistArray` fuses elementwise
//! steps and combines reductions engine to engine). Adding a method to a
//! table adds it to both.

/// The elementwise functions: `name Variant "what it computes"`.
macro_rules! for_each_unary {
    ($m:ident) => {
        $m! {
            neg Neg "`-x`";
            abs Abs "`|x|`";
            sqrt Sqrt "`√x` (floats)";
            exp Exp "`eˣ` (floats)";
            ln Ln "`ln x` (floats)";
            sin Sin "`sin x` (floats)";
            cos Cos "`cos x` (floats)";
            tan Tan "`tan x` (floats)";
            tanh Tanh "`tanh x` (floats)";
            floor Floor "`⌊x⌋` (floats)";
            ceil Ceil "`⌈x⌉` (floats)";
        }
    };
}
pub(crate) use for_each_unary;

/// The comparisons with a scalar: `name Variant "operator"`.
macro_rules! for_each_comparison {
    ($m:ident) => {
        $m! {
            gt Gt ">";
            lt Lt "<";
            ge Ge ">=";
            le Le "<=";
            eq_scalar Eq "==";
            ne_scalar Ne "!=";
        }
    };
}
pub(crate) use for_each_comparison;

/// The reductions along an axis: `name Variant [result element] how "what"`,
/// where `how` names the `DistArray` method that combines them along the
/// distributed axis.
macro_rules! for_each_axis_reduction {
    ($m:ident) => {
        $m! {
            sum_axis Sum [A] along_same "Σ";
            prod_axis Prod [A] along_same "Π";
            min_axis Min [A] along_same "the smallest element (NaN wins)";
            max_axis Max [A] along_same "the largest element (NaN wins)";
            mean_axis Mean [f64] along_stat "the mean";
            var_axis Var [f64] along_stat "the population variance";
            std_axis Std [f64] along_stat "the population standard deviation";
            argmin_axis ArgMin [i64] along_index "the index of the first smallest element";
            argmax_axis ArgMax [i64] along_index "the index of the first largest element";
            any_axis Any [bool] along_logic "whether any element is true (nonzero)";
            all_axis All [bool] along_logic "whether every element is true (nonzero)";
        }
    };
}
pub(crate) use for_each_axis_reduction;

/// The elementwise methods of one kind, through its `unary(op)`.
macro_rules! unary_methods {
    ($out:ty; $($name:ident $op:ident $doc:literal;)*) => {$(
        #[doc = concat!("Elementwise ", $doc, ".")]
        pub fn $name(&self) -> $out {
            self.unary(crate::array::kinds::Unary::$op)
        }
    )*};
}
pub(crate) use unary_methods;

/// The comparison methods of one kind, through its `compare(cmp, s)`.
macro_rules! comparison_methods {
    ($out:ty; $($name:ident $op:ident $sym:literal;)*) => {$(
        #[doc = concat!("`x ", $sym, " s` elementwise (compared as `f64`): a `bool` array.")]
        pub fn $name(&self, s: f64) -> $out {
            self.compare(crate::array::kinds::Cmp::$op, s)
        }
    )*};
}
pub(crate) use comparison_methods;
