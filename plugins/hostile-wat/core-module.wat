;; fixture: core-module
;; A core module with a `handle` export, not a component: what a build
;; without component tooling produces. Loading must refuse it.
(module
  (memory (export "memory") 1)
  (func (export "handle") (param i32 i32) (result i32)
    i32.const 0))
