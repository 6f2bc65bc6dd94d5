;; fixture: component plugbox:hostile-wat/unknown-import
;; A plugin that imports a host function no plugbox host provides
;; (`evil:host/escape`): loading must refuse it, naming the import.
(module
  (import "evil:host/escape" "open" (func $open))
  (memory (export "memory") 1)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    i32.const 8)
  (func (export "plugbox:plugin/handler@0.1.0#handle") (param i32 i32) (result i32)
    call $open
    i32.const 0))
