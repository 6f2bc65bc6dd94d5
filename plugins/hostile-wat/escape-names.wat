;; fixture: component plugbox:plugin/plugin
;; Function names (in the name section, which the plugin's author writes)
;; holding terminal escape sequences, a forged line and a bidi override;
;; `handle` traps inside them, so the names land in the trap's wasm
;; backtrace, which the host keeps raw and prints escaped.
(module
  (memory (export "memory") 1)
  (func (@name "evil\1b[2J\1b]0;pwned\07\0aplugbox: INFO forged line \e2\80\aegpj.exe")
    unreachable)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    i32.const 8)
  (func (export "plugbox:plugin/handler@0.1.0#handle") (param i32 i32) (result i32)
    call 0
    i32.const 0))
