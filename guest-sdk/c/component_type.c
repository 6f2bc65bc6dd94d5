// The bindings (plugin.c) link in the object `wit-bindgen c` writes with the
// world's type information (plugin_component_type.o) through this symbol.
// regenerate.sh asks for no such object: the artifacts build embeds the
// world from wit/ itself (wit-component, as for Go), so no binary is
// committed. This stands in for it.
void __component_type_object_force_link_plugin(void);
void __component_type_object_force_link_plugin(void) {}
