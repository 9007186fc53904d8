# embed_text.cmake -- turn schema.sql into a C string (cur_schema_sql) at build time.
file(READ ${IN} TEXT HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," BYTES "${TEXT}")
file(WRITE ${OUT} "/* generated from schema.sql -- do not edit */\n"
  "const char cur_schema_sql[] = {${BYTES} 0x00};\n")
