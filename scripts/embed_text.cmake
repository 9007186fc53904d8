# embed_text.cmake -- turn a text file (schema.sql, a migration, the web
# pages' CSS and JS) into a C string at build time: -DIN=file -DOUT=file.c
# [-DVAR=name] (VAR defaults to cur_schema_sql).
if(NOT DEFINED VAR)
  set(VAR cur_schema_sql)
endif()
get_filename_component(IN_NAME ${IN} NAME)
file(READ ${IN} TEXT HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," BYTES "${TEXT}")
file(WRITE ${OUT} "/* generated from ${IN_NAME} -- do not edit */\n"
  "const char ${VAR}[] = {${BYTES} 0x00};\n")
