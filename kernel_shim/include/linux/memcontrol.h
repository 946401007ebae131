/* Memory cgroups: off in the shim (CONFIG_MEMCG unset). */
