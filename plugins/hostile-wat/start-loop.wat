;; fixture: component plugbox:plugin/plugin
;; A start function that never returns: the attack runs while the instance
;; is created, before any call, so instantiation must stop it (fuel or the
;; deadline).
(module
  (memory (export "memory") 1)
  (func $forever
    (loop $again
      (br $again)))
  (start $forever)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    i32.const 8)
  ;; Never reached. (It would answer `ok` with an empty list: memory is zero.)
  (func (export "plugbox:plugin/handler@0.1.0#handle") (param i32 i32) (result i32)
    i32.const 0))
