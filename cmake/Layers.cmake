# The libraries' layering, enforced twice.
#
# By the compiler: a library's sources see their own folder and, of every library they link,
# only the headers that library declares public. Each folder gets two include trees in the
# build folder, made of symbolic links: layers/self/FOLDER holds FOLDER/ (the whole source
# folder, for the folder's own targets) and layers/public/FOLDER holds FOLDER/HEADER for each
# public header only (for the targets that link it). So `#include "recorder/internal.h"` from
# proxy/ does not compile, and neither does an include of a library the folder does not link.
#
# By a test (include_layers): tests/layering/check_includes.py reads the manifest written here
# (each folder's public headers and the folders it may include) and names every include in the
# sources that crosses a layer the wrong way, including headers no target compiles.
#
# A folder may only link folders declared before it (the order of add_subdirectory in the root
# CMakeLists.txt is the order of the layers); configuring fails otherwise.

set(PORTCULLIS_LAYERS_DIR ${CMAKE_BINARY_DIR}/layers)
set_property(GLOBAL PROPERTY PORTCULLIS_LAYER_FOLDERS "")

# portcullis_layer(FOLDER TARGETS target... PUBLIC_HEADERS header...)
# Called once in each library folder after its targets are defined.
function(portcullis_layer folder)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "" "TARGETS;PUBLIC_HEADERS")
  set(self_dir ${PORTCULLIS_LAYERS_DIR}/self/${folder})
  set(public_dir ${PORTCULLIS_LAYERS_DIR}/public/${folder})
  # Rebuilt from scratch at each configure, so a header taken out of the list stops being
  # visible instead of lingering as a stale link.
  file(REMOVE_RECURSE ${self_dir} ${public_dir})
  file(MAKE_DIRECTORY ${self_dir} ${public_dir}/${folder})
  file(CREATE_LINK ${CMAKE_CURRENT_SOURCE_DIR} ${self_dir}/${folder} SYMBOLIC)
  foreach(header IN LISTS ARG_PUBLIC_HEADERS)
    if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${header})
      message(FATAL_ERROR "${folder}/CMakeLists.txt declares the public header ${header}, "
                          "which does not exist: fix the PUBLIC_HEADERS list.")
    endif()
    file(CREATE_LINK ${CMAKE_CURRENT_SOURCE_DIR}/${header} ${public_dir}/${folder}/${header}
         SYMBOLIC)
  endforeach()
  foreach(target IN LISTS ARG_TARGETS)
    get_target_property(type ${target} TYPE)
    if(type STREQUAL "EXECUTABLE")
      target_include_directories(${target} PRIVATE ${self_dir})
    else()
      target_include_directories(${target} PRIVATE ${self_dir} INTERFACE ${public_dir})
    endif()
    set_property(TARGET ${target} PROPERTY PORTCULLIS_FOLDER ${folder})
  endforeach()
  get_property(folders GLOBAL PROPERTY PORTCULLIS_LAYER_FOLDERS)
  _portcullis_check_links_go_down(${folder} "${folders}" "${ARG_TARGETS}")
  set_property(GLOBAL APPEND PROPERTY PORTCULLIS_LAYER_FOLDERS ${folder})
  set_property(GLOBAL PROPERTY PORTCULLIS_LAYER_TARGETS_${folder} ${ARG_TARGETS})
  set_property(GLOBAL PROPERTY PORTCULLIS_LAYER_PUBLIC_${folder} ${ARG_PUBLIC_HEADERS})
endfunction()

# The folders whose headers TARGET's sources can see through what it links (its direct links,
# and what those pass on through PUBLIC or INTERFACE links), in OUT.
function(_portcullis_visible_folders target out)
  set(visible "")
  set(pending "")
  get_target_property(links ${target} LINK_LIBRARIES)
  if(links)
    list(APPEND pending ${links})
  endif()
  set(seen "")
  while(pending)
    list(POP_FRONT pending link)
    if(NOT TARGET ${link} OR link IN_LIST seen)
      continue()
    endif()
    list(APPEND seen ${link})
    get_target_property(link_folder ${link} PORTCULLIS_FOLDER)
    if(link_folder)
      list(APPEND visible ${link_folder})
    endif()
    get_target_property(passed_on ${link} INTERFACE_LINK_LIBRARIES)
    if(passed_on)
      foreach(item IN LISTS passed_on)
        # $<LINK_ONLY:x> is a private dependency of a static library: linked, not visible.
        if(NOT item MATCHES "^\\$<")
          list(APPEND pending ${item})
        endif()
      endforeach()
    endif()
  endwhile()
  list(REMOVE_DUPLICATES visible)
  set(${out} ${visible} PARENT_SCOPE)
endfunction()

function(_portcullis_check_links_go_down folder lower_folders targets)
  foreach(target IN LISTS targets)
    # A library of a later folder is not defined yet, so it cannot be told apart by folder.
    get_target_property(links ${target} LINK_LIBRARIES)
    foreach(link IN LISTS links)
      if(link MATCHES "^portcullis_" AND NOT TARGET ${link})
        message(FATAL_ERROR "${target} (${folder}/) links ${link}, which is not a layer below "
                            "it. Libraries depend downwards only: see cmake/Layers.cmake.")
      endif()
    endforeach()
    _portcullis_visible_folders(${target} visible)
    foreach(other IN LISTS visible)
      if(NOT other STREQUAL folder AND NOT other IN_LIST lower_folders)
        message(FATAL_ERROR "${target} (${folder}/) links ${other}/, which is not a layer below "
                            "it. Libraries depend downwards only: see cmake/Layers.cmake.")
      endif()
    endforeach()
  endforeach()
endfunction()

# Writes layers/manifest.json for the include_layers test: for each folder, in layer order, its
# public headers and the folders its targets may include.
function(portcullis_write_layer_manifest)
  get_property(folders GLOBAL PROPERTY PORTCULLIS_LAYER_FOLDERS)
  set(entries "")
  foreach(folder IN LISTS folders)
    get_property(targets GLOBAL PROPERTY PORTCULLIS_LAYER_TARGETS_${folder})
    get_property(public GLOBAL PROPERTY PORTCULLIS_LAYER_PUBLIC_${folder})
    set(may_include "")
    foreach(target IN LISTS targets)
      _portcullis_visible_folders(${target} visible)
      list(APPEND may_include ${visible})
    endforeach()
    list(REMOVE_DUPLICATES may_include)
    list(REMOVE_ITEM may_include ${folder})
    list(TRANSFORM public PREPEND "\"")
    list(TRANSFORM public APPEND "\"")
    list(JOIN public ", " public_json)
    list(TRANSFORM may_include PREPEND "\"")
    list(TRANSFORM may_include APPEND "\"")
    list(JOIN may_include ", " may_include_json)
    list(APPEND entries
         "  {\"folder\": \"${folder}\", \"public\": [${public_json}], \"may_include\": [${may_include_json}]}")
  endforeach()
  list(JOIN entries ",\n" body)
  file(WRITE ${PORTCULLIS_LAYERS_DIR}/manifest.json "[\n${body}\n]\n")
endfunction()
