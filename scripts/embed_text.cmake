# embed_text.cmake -- turn a SQL file into a C string at build time: schema.sql
# as cur_schema_sql, or a migration as the NAME given (-DNAME=...).
if(NOT NAME)
  set(NAME cur_schema_sql)
endif()
file(READ ${IN} TEXT HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," BYTES "${TEXT}")
get_filename_component(FROM ${IN} NAME)
file(WRITE ${OUT} "/* generated from ${FROM} -- do not edit */\n"
  "const char ${NAME}[] = {${BYTES} 0x00};\n")
